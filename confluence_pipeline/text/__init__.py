"""Content as text: storage format to Markdown and plain text, attachment text, chunks."""

from .attachments import Extracted, Extractor, Limits, extract
from .blocks import Block, Converted, Names
from .chunks import Chunk, chunk_blocks
from .storage import convert, convert_html

__all__ = ["Block", "Chunk", "Converted", "Extracted", "Extractor", "Limits", "Names", "chunk_blocks", "convert",
           "convert_html", "extract"]
