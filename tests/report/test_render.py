from evenet.report import render


def test_demote_headings_leaves_fenced_code_alone():
    text = "# Title\n\n```text\n# comment\n```\n###### deep\nnot # a heading"
    out = render.demote_headings(text, 2)
    assert out.splitlines()[0] == "### Title"
    assert "# comment" in out.splitlines() and "###### deep" in out.splitlines()
    assert out.splitlines()[-1] == "not # a heading"


def test_table_escapes_pipes_and_newlines():
    text = render.table(["a", "b"], [["x|y", "1\n2"]])
    assert text.splitlines()[2] == "| x\\|y | 1 2 |"


def test_html_has_one_section_per_block_and_escapes_raw_html():
    blocks = [("top", "# Report"), ("analysis-qe", "## qe\n\n<script>alert(1)</script>")]
    page = render.to_html(blocks, "T")
    assert '<section id="analysis-qe" class="analysis">' in page
    assert '<section id="top">' in page
    assert "<script>alert(1)</script>" not in page  # summaries are text, never markup
    assert "data-broken-images" in page  # the load-check script
    assert render.to_markdown(blocks) == "# Report\n\n## qe\n\n<script>alert(1)</script>\n"
