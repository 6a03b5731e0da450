[ "a\"b\\c\nd\te$" "\${x}" ''
  indented
    more
  done
'' ("x" + "y") (toString [ 1 "a" null true false ]) (builtins.substring 1 2 "hello") ]
