"only in sp2"
