{ found = "sp2/foo"; }
