# A list at the root, with a set, a list and a function inside.
[ 1 { a = 2; } [ 3 ] ({ n ? 4 }: n * 10) "five" ]
