# fromTOML: every kind of value, nesting, quoting and escapes.
builtins.fromTOML ''
  # comment
  title = "TOML"
  "quoted key" = 'literal \n string'
  empty = ""
  multi = """
  line one
  line two \
    continued"""
  literalMulti = ''''
  raw \t text''''
  escapes = "tab\tquote\"backslash\\unicode\u00e9\U0001F600"
  ints = [ 0, +1, -1, 1_000, 0xff, 0o17, 0b101, 9223372036854775807, -9223372036854775808 ]
  floats = [ 0.0, -0.0, 1.5, -1.5e3, 1e-7, 6.02e23, 1_000.5, 3.0 ]
  special = [ inf, -inf, nan ]
  bools = [ true, false ]
  mixed = [ 1, "two", [ 3 ], { four = 4 } ]
  empties = [ [], {} ]
  inline = { a = 1, b.c = 2, "d e" = { f = [] } }
  dotted.key.path = "x"
  dotted.other = 1

  [table]
  a = 1

  [table.sub]
  b = 2

  [other."quoted.part"]
  c = 3

  [[list]]
  x = 1

  [[list]]

  [[list]]
  y = 2
  [list.nested]
  z = 3
  [[list.items]]
  w = 4
''
