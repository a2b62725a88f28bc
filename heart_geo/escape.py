"""Text from data files, uploads or the user, made safe to show: one escaping per place it is shown.

* :func:`html_text` for HTML (the map's tooltips, popups and legend);
* :func:`md_text` for Streamlit markdown (the dashboard's answers and messages).
"""

from __future__ import annotations

import html
import re

__all__ = ["html_text", "md_text"]


def html_text(value) -> str:
    """Text from data files or the user, made safe to show as HTML.

    Folium puts tooltip and popup values into the page as HTML, so every name that comes from a
    data file (schools, catchments, services) or a query goes through here before it reaches a
    feature property, a tooltip or a popup: a name holding markup shows as text, never runs.

    Examples
    --------
    >>> html_text('<img src=x onerror="alert(1)">')
    '&lt;img src=x onerror=&quot;alert(1)&quot;&gt;'
    """
    return html.escape(str(value), quote=True)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


def md_text(value) -> str:
    r"""Text from a data file, an upload or the user, safe inside Streamlit markdown.

    Every markdown character is backslash-escaped, so a column or school named ``![x](http://...)``
    shows as text and never becomes an image, a link or formatting (and nothing is fetched from a
    network).

    Examples
    --------
    >>> print(md_text("![x](http://a.b)"))
    \!\[x\]\(http\://a\.b\)
    """
    return _MD_SPECIAL.sub(r"\\\1", str(value))
