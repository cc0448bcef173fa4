"""Text from the data (column names, values, file and dataset names) made safe for ``st.markdown``.

Streamlit renders markdown in ``st.markdown``, ``st.info``/``st.warning``/``st.error``, captions and
widget labels. A column named ``![x](https://evil.example/track.png)`` would load a remote image
(telling a third party that the file was opened, and from where); ``**`` or ``[`` in a value would
garble the sentence around it. :func:`md` escapes every markdown and HTML character, so the text
shows exactly as it is in the data.

>>> md("![x](https://evil.example/p.png)")
'\\\\!\\\\[x\\\\]\\\\(https\\\\:\\\\/\\\\/evil\\\\.example\\\\/p\\\\.png\\\\)'
>>> md("age_years")
'age\\\\_years'
"""

from __future__ import annotations

import re

_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:/&=\"'^])")
"""Markdown and HTML punctuation (CommonMark lets any ASCII punctuation be escaped with a backslash),
plus ``:`` (Streamlit's :icon: and :color[...] shortcodes) and ``$`` (LaTeX)."""


def md(text: object) -> str:
    """``text`` as a literal inside markdown: every special character backslash-escaped, newlines as spaces."""
    return _SPECIAL.sub(r"\\\1", " ".join(str(text).split()))
