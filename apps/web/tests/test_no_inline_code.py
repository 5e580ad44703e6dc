"""No page of ours can be made to run someone else's script: templates never
mark data safe and hold no code the Content-Security-Policy would have to
allow (inline scripts, on* handlers, hx-on, code htmx evaluates), and our
JavaScript builds markup from data with textContent, not innerHTML.

A fence around the whole class, so the next template or script does not
reopen it; the browser tests (tests/browser/test_hostile_strings.py,
test_security_headers.py) show the pages themselves."""

import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
TEMPLATES = sorted([*ROOT.glob("templates/**/*.html"), *ROOT.glob("apps/*/templates/**/*.html")])
SCRIPTS = sorted(ROOT.glob("static/js/**/*.js"))

TEMPLATE_RULES = {
    "|safe on data": re.compile(r"\|\s*safe(seq)?\b"),
    "autoescape off": re.compile(r"{%\s*autoescape\s+off"),
    "inline <script> (the policy allows none)": re.compile(
        r"<script\b(?![^>]*\bsrc=)(?![^>]*type=\"application/(ld\+)?json\")[^>]*>", re.I
    ),
    "on* event handler attribute": re.compile(r"<[^>]*\son[a-z]+\s*=", re.I),
    "hx-on (htmx evaluates it)": re.compile(r"\bhx-on\b|\bhx-on[:-]", re.I),
    "hx-vals/hx-vars with js: (evaluated)": re.compile(r"\bhx-(vals|vars)\s*=\s*['\"]\s*(js|javascript):", re.I),
    "hx-trigger filter [..] (evaluated)": re.compile(r"\bhx-trigger\s*=\s*\"[^\"]*\[", re.I),
    "javascript: URL": re.compile(r"javascript:", re.I),
}
# innerHTML / insertAdjacentHTML / outerHTML / document.write fed anything but a
# string literal (an empty box, fixed markup) would parse data as markup.
HTML_SINK = re.compile(
    r"(\.(innerHTML|outerHTML)\s*\+?=|insertAdjacentHTML\s*\(|document\.write\s*\()\s*(?P<rest>[^;]*)"
)
LITERAL_ONLY = re.compile(r"""^\s*("[^"]*"|'[^']*')\s*\)?\s*$""")
# Known sinks fed markup we own: a <template> our server rendered (escaped there).
SINK_ALLOWED = {("ontology.js", 'body.insertAdjacentHTML("beforeend", html)')}


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT)))
def test_template_marks_nothing_safe_and_holds_no_inline_code(path: Path):
    text = path.read_text()
    found = [
        f"{path.relative_to(ROOT)}: {rule}: {match.group(0)[:80]!r}"
        for rule, pattern in TEMPLATE_RULES.items()
        for match in pattern.finditer(text)
    ]
    assert not found, "\n".join(found)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_script_never_parses_data_as_markup(path: Path):
    found = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        for match in HTML_SINK.finditer(line):
            rest = match.group("rest")
            if LITERAL_ONLY.match(rest) or (path.name, line.strip().rstrip(";")) in SINK_ALLOWED:
                continue
            found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
        if re.search(r"\beval\s*\(|new\s+Function\s*\(|setTimeout\s*\(\s*['\"]", line):
            found.append(f"{path.relative_to(ROOT)}:{number}: evaluated string: {line.strip()}")
    assert not found, "\n".join(found)


def test_the_rules_catch_what_they_are_for():
    """The fence itself: each rule finds the thing it names (a rule that matches
    nothing would pass every template)."""
    samples = {
        "|safe on data": "{{ chart_json|safe }}",
        "autoescape off": "{% autoescape off %}",
        "inline <script> (the policy allows none)": "<script>var a = 1;</script>",
        "on* event handler attribute": '<img src="x" onerror="go()">',
        "hx-on (htmx evaluates it)": '<button hx-on:click="go()">',
        "hx-vals/hx-vars with js: (evaluated)": """<input hx-vals='js:{a: b()}'>""",
        "hx-trigger filter [..] (evaluated)": '<div hx-trigger="every 2s [ok()]">',
        "javascript: URL": '<a href="javascript:go()">',
    }
    for rule, sample in samples.items():
        assert TEMPLATE_RULES[rule].search(sample), rule
    assert not TEMPLATE_RULES["inline <script> (the policy allows none)"].search('<script src="/static/a.js" defer>')
    assert not TEMPLATE_RULES["inline <script> (the policy allows none)"].search(
        '<script id="g" type="application/json">'
    )
    sink = HTML_SINK.search("box.innerHTML = '<p>' + name + '</p>';")
    assert sink and not LITERAL_ONLY.match(sink.group("rest"))
    assert LITERAL_ONLY.match(HTML_SINK.search('box.innerHTML = "";').group("rest"))
