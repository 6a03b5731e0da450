dirOf [ "a" ]
