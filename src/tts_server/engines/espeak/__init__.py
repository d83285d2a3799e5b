"""The built-in CPU engine, eSpeak NG through ctypes: the library binding, its voices, approximate cloning
and the engine worker processes run."""
