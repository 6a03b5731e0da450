(
# nothing

