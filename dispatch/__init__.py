"""Trips, their routes and alerts, and what dispatchers do about them."""
