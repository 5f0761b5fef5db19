#!/usr/bin/env python3
"""Check Markdown documents as GitHub renders them (test/markdown.sh).

Usage: markdown_check.py RENDERER FILE.md...

RENDERER is a cmark-gfm binary (GitHub's own renderer).  Each file is
rendered with the table extension, and the check fails when
  - a paragraph of the rendered HTML holds a raw table row (a line that
    starts with "|"): a table that did not render;
  - a table row of the source has more or fewer cells than its header
    (an unescaped "|" inside a code span splits a cell, and the renderer
    silently drops or pads cells);
  - two headings have the same anchor (GitHub would suffix the second with
    "-1", and a link to it would reach the first);
  - a link "#anchor" names no heading of the document, or a relative link
    names a file that does not exist (or, with "#anchor", a heading that
    the linked Markdown file does not have).
It prints one line per problem and a summary per file, and exits 1 when
there is any problem.
"""

import html
import html.parser
import os
import re
import subprocess
import sys
import urllib.parse


class Page(html.parser.HTMLParser):
    """Headings, links, tables and paragraph text of one rendered page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.headings = []      # text of each h1..h6
        self.links = []         # href of each a
        self.tables = 0
        self.paragraphs = []    # text of each p
        self._heading = None
        self._para = None

    def handle_starttag(self, tag, attrs):
        if re.fullmatch(r'h[1-6]', tag):
            self._heading = []
        elif tag == 'p':
            self._para = []
        elif tag == 'table':
            self.tables += 1
        elif tag == 'a':
            href = dict(attrs).get('href')
            if href is not None:
                self.links.append(href)

    def handle_endtag(self, tag):
        if re.fullmatch(r'h[1-6]', tag) and self._heading is not None:
            self.headings.append(''.join(self._heading))
            self._heading = None
        elif tag == 'p' and self._para is not None:
            self.paragraphs.append(''.join(self._para))
            self._para = None

    def handle_data(self, data):
        if self._heading is not None:
            self._heading.append(data)
        if self._para is not None:
            self._para.append(data)


def slug(text):
    """GitHub's anchor for a heading: lower case, punctuation dropped
    (letters, digits, "-" and "_" kept), spaces to hyphens."""
    text = text.strip().lower()
    text = re.sub(r'[^\w\- ]', '', text)
    return text.replace(' ', '-')


def render(renderer, path):
    out = subprocess.run([renderer, '-e', 'table', '-e', 'autolink', '-e', 'strikethrough', path],
                         check=True, capture_output=True, text=True).stdout
    page = Page()
    page.feed(out)
    page.close()
    return page


def cells(row):
    """The cells of a table row of the source: split on "|" not escaped."""
    row = row.strip()
    if row.startswith('|'):
        row = row[1:]
    if row.endswith('|') and not row.endswith('\\|'):
        row = row[:-1]
    return re.split(r'(?<!\\)\|', row)


def source_tables(path):
    """(line number, problem) for table rows whose cell count differs from
    their header's, outside fenced code blocks."""
    lines = open(path, encoding='utf-8').read().split('\n')
    problems = []
    fence = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = re.match(r'^\s*(`{3,}|~{3,})', line)
        if m:
            if fence is None:
                fence = m.group(1)[0] * len(m.group(1))
            elif line.strip().startswith(fence):
                fence = None
            i += 1
            continue
        if fence is None and i + 1 < len(lines) and '|' in line and \
                re.fullmatch(r'\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*', lines[i + 1]):
            width = len(cells(line))
            j = i + 2
            while j < len(lines) and lines[j].strip() and '|' in lines[j]:
                n = len(cells(lines[j]))
                if n != width:
                    problems.append((j + 1, 'table row has %d cells, its header %d '
                                            '(an unescaped | in a code span?)' % (n, width)))
                j += 1
            i = j
            continue
        i += 1
    return problems


def anchors_of(page):
    return [slug(h) for h in page.headings]


def check(renderer, path, cache):
    problems = []
    page = cache.setdefault(os.path.abspath(path), render(renderer, path))
    for lineno, what in source_tables(path):
        problems.append('%s:%d: %s' % (path, lineno, what))
    for text in page.paragraphs:
        for line in text.split('\n'):
            if line.lstrip().startswith('|'):
                problems.append('%s: a table row did not render: %s' % (path, line.strip()[:100]))
    anchors = anchors_of(page)
    seen = set()
    for a, h in zip(anchors, page.headings):
        if a in seen:
            problems.append('%s: heading "%s" duplicates the anchor #%s' % (path, h, a))
        seen.add(a)
    for href in page.links:
        url = urllib.parse.urlsplit(href)
        if url.scheme or href.startswith('//'):
            continue
        target = path
        if url.path:
            target = os.path.normpath(os.path.join(os.path.dirname(path), urllib.parse.unquote(url.path)))
            if not os.path.exists(target):
                problems.append('%s: link to %s: no such file' % (path, href))
                continue
        if url.fragment:
            if not target.endswith('.md'):
                continue
            other = cache.setdefault(os.path.abspath(target), render(renderer, target))
            if urllib.parse.unquote(url.fragment) not in anchors_of(other):
                problems.append('%s: link to %s: no such heading' % (path, href))
    print('%s: %d headings, %d tables, %d links, %d problems'
          % (path, len(page.headings), page.tables, len(page.links), len(problems)))
    return problems, page


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    renderer, files = sys.argv[1], sys.argv[2:]
    cache = {}
    failed = False
    for f in files:
        problems, _ = check(renderer, f, cache)
        for p in problems:
            print(p)
        failed = failed or bool(problems)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
