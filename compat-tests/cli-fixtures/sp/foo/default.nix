{ found = "sp/foo"; }
