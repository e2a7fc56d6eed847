"""HL7 v2 over MLLP: framing (`framing`) and the listener that maps ADT messages to MedCom (`server`)."""

from connectors.mllp.framing import Frame, MllpDecoder, Oversized, encode_frame
from connectors.mllp.server import Answer, MllpListener, build_ack

__all__ = ["Answer", "Frame", "MllpDecoder", "MllpListener", "Oversized", "build_ack", "encode_frame"]
