# Sphinx configuration of the documentation site. Build it with tools/build_docs.sh.
import pathlib
import re

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent


def _package_version():
    # Read, not imported: the version must not depend on which greenlet is installed.
    text = (ROOT / "python" / "greenlet" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', text, re.MULTILINE)
    if match is None:
        raise RuntimeError("no __version__ in python/greenlet/__init__.py")
    return match.group(1)


project = "greenlet (core in Swift)"
author = "the swift greenlet contributors"
copyright = "the swift greenlet contributors; MIT license"
release = _package_version()
version = ".".join(release.split(".")[:2])

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
]

source_suffix = {
    ".rst": "restructuredtext",
    ".md": "markdown",
}
root_doc = "index"

# _generated/ holds files that pages pull in with {include}; they are not pages of
# their own. requirements.txt and the tutorial's .py are not sources either.
exclude_patterns = [
    "_build",
    "_generated",
    "requirements.txt",
    "tutorial_scheduler.py",
    "Thumbs.db",
    ".DS_Store",
]

# MyST: "#anchor" links to headings, and ::: fences for directives.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]

# autodoc reads the installed package (tools/build_docs.sh installs this checkout).
autodoc_member_order = "bysource"
autodoc_typehints = "signature"

# The extension's docstrings start with a "name(args) -> result" line, as upstream's
# do. The API page writes each signature in its directive (taken from the stubs), so
# that line is dropped from the text.
_SIGNATURE_LINE = re.compile(r"^\s*[A-Za-z_][A-Za-z0-9_]*\(.*\)(\s*->.*)?\s*$")


# The same docstrings are plain text, not reStructuredText: "*args" would start
# emphasis. A call written with stars, and a starred word, become literals; "*run*",
# meant as emphasis, stays. The constructor's " - *run* -- ..." list is unindented, so
# that it is a list rather than a quotation.
_STARRED_CALL = re.compile(r"(?<![\w`.])([A-Za-z_][\w.]*\([^()`]*\*[^()`]*\))")
_STARRED_NAME = re.compile(r"(?<![\w`*])(\*{1,2}\w+)\b(?!\*)")
_LITERAL = re.compile(r"(``.*?``)")


def _plain_text_to_rest(line):
    line = _STARRED_CALL.sub(r"``\1``", line)
    parts = _LITERAL.split(line)
    for index in range(0, len(parts), 2):  # the parts outside literals
        parts[index] = _STARRED_NAME.sub(r"``\1``", parts[index])
    line = "".join(parts)
    return line[1:] if line.startswith(" - ") else line


def _clean_extension_docstring(app, what, name, obj, options, lines):
    if lines and _SIGNATURE_LINE.match(lines[0]):
        del lines[0]
        while lines and not lines[0].strip():
            del lines[0]
    lines[:] = [_plain_text_to_rest(line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", _clean_extension_docstring)


html_theme = "furo"
html_title = f"greenlet {release} (core in Swift)"
