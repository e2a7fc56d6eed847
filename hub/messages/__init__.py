"""Building MedCom messages: the shared parts (builder) and the acknowledgements the hub sends."""
