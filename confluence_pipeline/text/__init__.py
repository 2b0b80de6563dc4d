"""Content as text: storage format to Markdown and plain text, attachment text, chunks."""

from .attachments import Extracted, Limits, extract
from .extractor import Extractor
from .blocks import Block, Converted, Names
from .chunks import Chunk, chunk_blocks
from .storage import convert, convert_html

__all__ = ["Block", "Chunk", "Converted", "Extracted", "Extractor", "Limits", "Names", "chunk_blocks", "convert",
           "convert_html", "extract"]
