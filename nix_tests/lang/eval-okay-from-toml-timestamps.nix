# Dates and times with the experimental feature parse-toml-timestamps
# (newer Nix): the text toml11 prints for them.
builtins.fromTOML ''
  odt = 1979-05-27T07:32:00Z
  odtSpace = 1979-05-27 07:32:00z
  odtOffset = 1979-05-27T00:32:00-07:00
  odtPlus = 1979-05-27T00:32:00+05:30
  odtZeroOffset = 1979-05-27T00:32:00+00:00
  odtFrac = 1979-05-27T00:32:00.5-07:00
  ldt = 1979-05-27T07:32:00
  ldtMs = 1979-05-27T07:32:00.25
  ldtUs = 1979-05-27T07:32:00.0005
  ldtNs = 1979-05-27T07:32:00.000000001
  ldtZero = 1979-05-27T07:32:00.000
  ld = 1979-05-27
  lt = 07:32:00
  ltFrac = 23:59:59.999999999
  inArray = [ 2000-01-01, 12:00:00 ]
  [t]
  inTable = 2024-02-29T23:59:60Z
''
