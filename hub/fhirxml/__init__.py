"""FHIR R4 XML: read into the FHIR JSON object model, written back from it, and told apart from FHIR JSON.

The hub works on FHIR JSON (validation, routing, facts); a message that came in as XML keeps its original bytes
everywhere (archive, topics, delivery to a receiver that takes XML) and is converted at the edges only:

- `media`: which format a body is in (declared Content-Type, else its first character);
- `reader`: XML -> the JSON object model, safely (no DTD, no entities, bounded depth, UTF-8 only), with the
  line and column of the elements an issue names;
- `writer`: the JSON object model -> XML, elements in the StructureDefinitions' order;
- `jsontext`: JSON text whose numbers keep their digits (a decimal's precision is part of its value);
- `convert`: the conversions the hub's stages use (to JSON for validation, to a receiver's format);
- `located`: a verdict's issues placed at their line and column in the XML.

Why not a library: fhir.resources (8.3) reads and writes XML only through its typed pydantic models, which
exist for R5, R4B and STU3 but not R4 (4.0.1), refuse an invalid resource instead of converting it (the hub
must convert first and then tell the sender every fault), and drop what they do not model; the converter here
is generic over the compiled R4 definitions in schemas/compiled/ instead.
"""
