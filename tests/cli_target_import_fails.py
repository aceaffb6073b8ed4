raise NameError("name broken_thing is not defined")
