"""Fountain emphasis (compiler/inline.py): https://fountain.io/syntax#emphasis."""

import pytest

from moviola.compiler.inline import Run, has_markup, plain, runs


def test_emphasis_runs():
    assert runs("*italics* **bold** ***both*** _under_") == [
        Run("italics", italic=True), Run(" "), Run("bold", bold=True), Run(" "),
        Run("both", bold=True, italic=True), Run(" "), Run("under", underline=True)]


def test_nested_emphasis():
    # fountain.io's example: italic inside underline.
    assert runs("_Steel's face FILLS the *Leupold Mark 4* scope_.") == [
        Run("Steel's face FILLS the ", underline=True),
        Run("Leupold Mark 4", italic=True, underline=True),
        Run(" scope", underline=True), Run(".")]
    assert runs("_**BRICK & STEEL**_") == [Run("BRICK & STEEL", bold=True, underline=True)]


def test_escaped_markers():
    assert runs("Steel enters the code on the keypad: **\\*9765\\***") == [
        Run("Steel enters the code on the keypad: "), Run("*9765*", bold=True)]
    assert plain("He dialed *69 and then 23\\*, and then hung up.") == \
        "He dialed *69 and then 23*, and then hung up."
    assert plain("What the f\\*ck! Escape\\_escape") == "What the f*ck! Escape_escape"
    assert plain("a back\\\\slash") == "a back\\slash"


def test_spaces_around_markers_matter():
    # Both asterisks have a space on their left: neither closes, both stay literal.
    assert runs("He dialed *69 and then *23, and then hung up.") == [
        Run("He dialed *69 and then *23, and then hung up.")]
    assert runs("He dialed *69 and then 23*, and then hung up.") == [
        Run("He dialed "), Run("69 and then 23", italic=True), Run(", and then hung up.")]
    assert plain("He dialed _69 and then 23 _, and then hung up.") == \
        "He dialed _69 and then 23 _, and then hung up."
    # A marker with spaces on both sides neither opens nor closes.
    assert runs("a * b * c") == [Run("a * b * c")]


@pytest.mark.parametrize("text", ["*unclosed", "closed*", "**half*", "_", "***", "2 * 3 = 6"])
def test_unmatched_markers_are_literal(text):
    assert plain(text) == text


def test_emphasis_does_not_cross_lines():
    text = "Brick and Steel *share a look.\nThis is going to be BAD.*"
    assert runs(text) == [Run(text)]
    # Each line is read on its own, and the line break is a run of its own style.
    assert runs("*one*\n*two*") == [Run("one", italic=True), Run("\n"), Run("two", italic=True)]


def test_intraword_underscores_underline():
    assert runs("snake_case_name") == [Run("snake"), Run("case", underline=True), Run("name")]


def test_has_markup_and_plain_fast_path():
    assert not has_markup("Plain text.")
    assert plain("Plain text.") == "Plain text."
    assert has_markup("a_b") and has_markup("*") and has_markup("\\")


def test_run_json():
    assert Run("x", bold=True, underline=True).to_json() == {"text": "x", "bold": True, "underline": True}
    assert Run("y").to_json() == {"text": "y"}
