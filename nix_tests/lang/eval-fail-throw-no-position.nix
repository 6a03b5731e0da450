let x = throw "no position"; in x + 1
