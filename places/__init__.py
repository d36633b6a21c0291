"""Places people can read: addresses in (geocoding), positions out as words, road routes."""
