{ a.b.c = 1; a.b.d = 2; a.e = { f = 3; }; x = { y = 1; }; x.z = 2; ${"dyn" + "amic"} = 3; ${null} = 4; }
