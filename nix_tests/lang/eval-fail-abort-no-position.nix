abort "no position"
