__map
