map x: x
