"""Element-level tests for the Fountain parser, one group per rule of https://fountain.io/syntax.

Each test parses a small script and checks the element kinds, texts and spans it produces.
docs/fountain-conformance.md lists the rules and the choices made where the spec is silent.
"""

import pytest

from moviola.compiler.fountain import Element, parse
from moviola.compiler.source import Span


def kinds(text: str) -> list[str]:
    return [e.kind for e in parse(text).elements]


def pairs(text: str) -> list[tuple[str, str]]:
    return [(e.kind, e.text) for e in parse(text).elements]


def only(text: str, kind: str) -> list[Element]:
    return [e for e in parse(text).elements if e.kind == kind]


def codes(text: str) -> list[str]:
    return [d.code for d in parse(text).diagnostics]


# -- title page --------------------------------------------------------------------------------


def test_title_page_keys_and_values():
    script = parse("Title: Big Fish\nCredit: written by\nDraft date: 1/20/2012\n\nINT. HOUSE - DAY\n")
    assert [(f.key, f.value) for f in script.title_page] == [
        ("Title", "Big Fish"), ("Credit", "written by"), ("Draft date", "1/20/2012")]
    assert pairs_of(script) == [("scene_heading", "INT. HOUSE - DAY")]


def pairs_of(script):
    return [(e.kind, e.text) for e in script.elements]


def test_title_page_multi_line_indented_values():
    text = ("Title:\n    _**BRICK & STEEL**_\n    _**FULL RETIRED**_\nAuthor: Stu\n"
            "Contact:\n\tNext Level Productions\n\t1588 Mission Dr.\n\nINT. HOUSE - DAY\n")
    script = parse(text)
    assert [(f.key, f.value) for f in script.title_page] == [
        ("Title", "_**BRICK & STEEL**_\n_**FULL RETIRED**_"),
        ("Author", "Stu"),
        ("Contact", "Next Level Productions\n1588 Mission Dr."),
    ]
    title = script.title_page[0]
    assert title.span == Span(1, 1, 3, len("    _**FULL RETIRED**_") + 1)
    assert (title.value_span.line, title.value_span.col) == (2, 1)   # the value starts below
    author = script.title_page[1]
    assert (author.value_span.line, author.value_span.col) == (4, 9)


def test_fade_in_at_the_top_is_not_a_title_page():
    script = parse("FADE IN:\n\nINT. HOUSE - DAY\n\nMarie sleeps.\n")
    assert script.title_page == ()
    assert pairs_of(script)[0] == ("action", "FADE IN:")


def test_upper_case_key_with_an_indented_value_is_a_title_page():
    # The indented value shows that "TITLE:" is a key, not a transition-like line.
    script = parse("TITLE:\n    THE WASH HOUSE\n\nINT. HOUSE - DAY\n")
    assert [(f.key, f.value) for f in script.title_page] == [("TITLE", "THE WASH HOUSE")]


def test_key_without_value_needs_a_value_below():
    # An action line ending in a colon (fountain-tools Action) is no title page ...
    script = parse("He opens the card, hand written:\n\n    Scott --\n")
    assert script.title_page == ()
    assert kinds("He opens the card, hand written:\n\n    Scott --\n") == ["action", "action"]
    # ... but an empty field followed by another key is.
    assert [(f.key, f.value) for f in parse("Title:\nAuthor: Me\n\nHi.\n").title_page] == [
        ("Title", ""), ("Author", "Me")]


def test_scene_heading_with_a_colon_is_not_a_title_page():
    script = parse("EXT. BEACH: DAY\n\nWaves.\n")
    assert script.title_page == ()
    assert kinds("EXT. BEACH: DAY\n\nWaves.\n") == ["scene_heading", "action"]


def test_title_page_ends_at_a_line_that_is_no_key():
    # fountain-tools TitlePage: a plain line ends the title page and starts the script.
    script = parse("Title: X\nNot a title entry.\nStill: Not a title entry.\n")
    assert [f.key for f in script.title_page] == ["Title"]
    assert pairs_of(script) == [("action", "Not a title entry.\nStill: Not a title entry.")]


def test_title_page_may_follow_a_leading_note():
    # aw-parser's sample opens with a note, then the title page.
    script = parse("[[Script note.\n- todo\n]]\n\nTitle: X\nAuthor: Y\n\nINT. A - DAY\n")
    assert [f.key for f in script.title_page] == ["Title", "Author"]
    assert kinds("[[Script note.\n- todo\n]]\n\nTitle: X\n\nINT. A - DAY\n") == ["note", "scene_heading"]


def test_text_without_a_title_page_starts_with_its_first_line():
    script = parse("Marie sleeps.\n")
    assert script.title_page == ()
    assert script.elements[0].span.line == 1


# -- scene headings ----------------------------------------------------------------------------


@pytest.mark.parametrize("heading", [
    "INT. HOUSE - DAY", "EXT. HOUSE - DAY", "EST. HOUSE - DAY", "INT./EXT. CAR - DAY",
    "INT/EXT CAR - DAY", "I/E. CAR - DAY", "I/E CAR", "ext. olympia circus - night",
    "INT HOUSE DAY", "int. house - day", "    INT. INDENTED - DAY",
])
def test_scene_heading_prefixes(heading):
    assert pairs(f"Before.\n\n{heading}\n\nAfter.\n")[1] == ("scene_heading", heading.strip())


@pytest.mark.parametrize("line", [
    "INTERIOR OF A HOUSE",     # needs a dot or a space after the prefix
    "ESTABLISHING",
    "EXTRA! EXTRA!",
    "INT",
])
def test_not_a_scene_heading_without_separator(line):
    assert kinds(f"Before.\n\n{line}\n\nAfter.\n")[1] != "scene_heading"


def test_scene_heading_needs_blank_lines_around_it():
    # Text right after (or right before) the line: action, not a heading.
    assert kinds("\nINT. HOUSE - DAY\nMarie sleeps.\n") == ["action"]
    assert kinds("Marie sleeps.\nINT. HOUSE - DAY\n\nMore.\n") == ["action", "action"]


def test_forced_scene_heading():
    (heading,) = only("Before.\n\n.SNIPER SCOPE POV\n\nAfter.\n", "scene_heading")
    assert heading.text == "SNIPER SCOPE POV"
    assert heading.forced
    assert heading.span == Span(3, 1, 3, len(".SNIPER SCOPE POV") + 1)


@pytest.mark.parametrize("line", ["...where the carnival is parked.", "..NOT FORCED",
                                  ".38 pistol on the table.", ". NOT A HEADER"])
def test_periods_that_do_not_force_a_heading(line):
    # Only a single period then a letter forces a heading (see docs for ".38").
    assert kinds(f"Before.\n\n{line}\n\nAfter.\n") == ["action", "action", "action"]


@pytest.mark.parametrize("written, text, number", [
    ("INT. HOUSE - DAY #1#", "INT. HOUSE - DAY", "1"),
    ("INT. HOUSE - DAY #1A#", "INT. HOUSE - DAY", "1A"),
    ("INT. HOUSE - DAY #1a#", "INT. HOUSE - DAY", "1a"),
    ("INT. HOUSE - DAY #2-B#", "INT. HOUSE - DAY", "2-B"),
    ("INT. HOUSE - DAY #I-1-A#", "INT. HOUSE - DAY", "I-1-A"),
    ("INT. HOUSE - DAY #1.#", "INT. HOUSE - DAY", "1."),
    ("INT. HOUSE - DAY - FLASHBACK (1944) #110A#", "INT. HOUSE - DAY - FLASHBACK (1944)", "110A"),
    (".FORCED HEADING #7#", "FORCED HEADING", "7"),
    ("INT. HOUSE - DAY", "INT. HOUSE - DAY", None),
])
def test_scene_numbers(written, text, number):
    (heading,) = only(f"{written}\n\nMarie sleeps.\n", "scene_heading")
    assert (heading.text, heading.scene_number) == (text, number)


# -- action ------------------------------------------------------------------------------------


def test_action_keeps_line_breaks_in_a_paragraph():
    assert pairs("It's a sunny day.\nSunnier than normal.\nToo sunny to be funny.\n") == [
        ("action", "It's a sunny day.\nSunnier than normal.\nToo sunny to be funny.")]


def test_blank_lines_separate_action_paragraphs():
    script = parse("One.\n\nTwo.\n\n\nThree.\n")
    assert pairs_of(script) == [("action", "One."), ("action", "Two."), ("action", "Three.")]
    assert [e.span.line for e in script.elements] == [1, 3, 6]


def test_forced_action():
    script = parse("!SCANNING THE AISLES...\nWhere is that pit boss?\n")
    # Without "!" this would be a cue and its dialogue.
    assert pairs_of(script) == [("action", "SCANNING THE AISLES...\nWhere is that pit boss?")]
    assert script.elements[0].forced
    assert kinds("SCANNING THE AISLES...\nWhere is that pit boss?\n") == ["character", "dialogue"]


def test_forced_action_stops_a_heading():
    assert pairs("!EXT. ACTION. FORCED.\n") == [("action", "EXT. ACTION. FORCED.")]


def test_action_keeps_indentation_and_turns_tabs_into_four_spaces():
    text = "EXT. INDENTATION TEST\n\n    Four spaces\n\n  Two spaces\n\n\tA tab\n\nNone\n"
    assert [e.text for e in only(text, "action")] == [
        "    Four spaces", "  Two spaces", "    A tab", "None"]


def test_action_drops_trailing_spaces():
    assert pairs("He waits.   \nAnd waits.\t\n") == [("action", "He waits.\nAnd waits.")]


def test_two_space_line_keeps_an_action_paragraph():
    assert pairs("One.\n  \nStill one.\n") == [("action", "One.\n\nStill one.")]


def test_action_span_covers_the_paragraph():
    (action,) = parse("\nFirst line.\nSecond, longer line.\n").elements
    assert action.span == Span(2, 1, 3, len("Second, longer line.") + 1)


# -- character cues ----------------------------------------------------------------------------


def test_character_and_dialogue():
    script = parse("STEEL\nThe man's a myth!\n")
    cue, speech = script.elements
    assert (cue.kind, cue.name, cue.text, cue.extensions) == ("character", "STEEL", "STEEL", ())
    assert (speech.kind, speech.text) == ("dialogue", "The man's a myth!")
    assert cue.span == Span(1, 1, 1, 6)
    assert speech.span == Span(2, 1, 2, len("The man's a myth!") + 1)


def test_character_needs_a_blank_line_before():
    assert kinds("Marie waits.\nSTEEL\nThe man's a myth!\n") == ["action"]


def test_character_needs_text_after():
    # A blank line after the cue: both paragraphs are action.
    assert kinds("\nBOB\n\nThis one shouldn't work.\n") == ["action", "action"]
    assert kinds("Before.\n\nBOB\n") == ["action", "action"]


def test_indented_character_and_dialogue():
    assert pairs("      GUY\n  I don't wanna.\n") == [("character", "GUY"), ("dialogue", "I don't wanna.")]


@pytest.mark.parametrize("cue, name, extensions", [
    ("MOM (V.O.)", "MOM", ("V.O.",)),
    ("MOM (O.S.)", "MOM", ("O.S.",)),
    ("MOM (O. S.)", "MOM", ("O. S.",)),
    ("STEEL (CONT'D)", "STEEL", ("CONT'D",)),
    ("STEEL (CONT’D)", "STEEL", ("CONT’D",)),
    ("STEEL (V.O.) (CONT'D)", "STEEL", ("V.O.", "CONT'D")),
    ("EDWARD (V.O.)(CONT’D)", "EDWARD", ("V.O.", "CONT’D")),
    ("HANS (on the radio)", "HANS", ("on the radio",)),
    ("EVE (cont'd)", "EVE", ("cont'd",)),
    ("DR. BENNET", "DR. BENNET", ()),
    ("ÉLODIE", "ÉLODIE", ()),
    ("Д. ИВАНОВ", "Д. ИВАНОВ", ()),
    ("C3PO", "C3PO", ()),
    ("3CPO", "3CPO", ()),      # has letters: a cue per the spec (fountain-tools disagrees)
    ("R2D2", "R2D2", ()),
    ("ME ", "ME", ()),
])
def test_character_extensions_and_names(cue, name, extensions):
    (character,) = only(f"\n{cue}\nWhat was it you said?\n", "character")
    assert (character.name, character.extensions) == (name, extensions)


@pytest.mark.parametrize("line", [
    "23",              # numbers only: no letter
    "23 (O.S.)",
    "Han (O. S.)",     # not upper case
    "AND ^ (Dual)",    # a caret inside the name
    "BOB (V.O.) said",  # text after the extension
    "約翰",    # CJK has no case: never a cue unless forced
])
def test_not_a_character(line):
    assert kinds(f"\n{line}\nSome words.\n") == ["action"]


def test_forced_character():
    cue, speech = parse("@McCLANE\nYippie ki-yay!\n").elements
    assert (cue.kind, cue.name, cue.forced) == ("character", "McCLANE", True)
    assert speech.kind == "dialogue"


def test_forced_character_with_extension_and_cjk():
    (cue,) = only("@Han (O.S.)\nThis should.\n\n@約翰\n这是什么？\n",
                  "character")[:1]
    assert (cue.name, cue.extensions) == ("Han", ("O.S.",))
    assert [c.name for c in only("@約翰\n这是什么？\n", "character")] == ["約翰"]


def test_heading_or_transition_without_its_blank_line_is_not_a_cue():
    # Upper case and followed by text, but reading them as cues would name a character
    # "INT. HOUSE - DAY"; they stay action (see docs).
    assert kinds("\nINT. HOUSE - DAY\nMarie sleeps.\n") == ["action"]
    assert kinds("\nCUT TO:\nINT. HOUSE - DAY\n\nMarie.\n") == ["action", "action"]


# -- dialogue and parentheticals ---------------------------------------------------------------


def test_dialogue_lines_stay_one_element():
    text = "DAN\nThen let's retire them.\n_Permanently_.\n"
    assert pairs(text) == [("character", "DAN"), ("dialogue", "Then let's retire them.\n_Permanently_.")]


def test_dialogue_can_be_all_caps():
    assert pairs("EVE\nME TOO!\n") == [("character", "EVE"), ("dialogue", "ME TOO!")]


def test_parentheticals():
    text = "STEEL\n(starting the engine)\nSo much for retirement!\n(pause)\nGo.\n  (beat)\n"
    assert pairs(text) == [
        ("character", "STEEL"), ("parenthetical", "(starting the engine)"),
        ("dialogue", "So much for retirement!"), ("parenthetical", "(pause)"),
        ("dialogue", "Go."), ("parenthetical", "(beat)"),
    ]
    assert [e.span.line for e in parse(text).elements] == [1, 2, 3, 4, 5, 6]


def test_parenthetical_outside_dialogue_is_action():
    assert kinds("\n(Jack)\nKnife.\n") == ["action"]


def test_two_space_line_keeps_the_dialogue_block():
    text = "DEALER\nTen.\nFour.\n  \nHit or stand sir?\n"
    assert pairs(text) == [("character", "DEALER"), ("dialogue", "Ten.\nFour.\n\nHit or stand sir?")]
    # A truly blank line ends the block: what follows is action.
    assert kinds("DEALER\nTen.\n\nHit or stand sir?\n") == ["character", "dialogue", "action"]


def test_blank_line_ends_dialogue_and_a_new_cue_starts():
    assert kinds("JOHN\nMine.\n\nJAKE\nMine too.\n") == ["character", "dialogue"] * 2


def test_note_line_between_cue_and_dialogue_keeps_the_block():
    text = "MARIE\n[[shot: close-up, slow push in]]\nThe water was cold.\n"
    script = parse(text)
    assert [e.kind for e in script.elements] == ["character", "note", "dialogue"]
    note = script.elements[1]
    assert note.text == "shot: close-up, slow push in"
    assert not note.inline
    assert note.span == Span(2, 1, 2, len("[[shot: close-up, slow push in]]") + 1)
    assert script.elements[2].span.line == 3


def test_note_line_between_dialogue_lines_keeps_the_block():
    # One speech over lines 2-4; the note comes after it, inside its span.
    script = parse("MARIE\nFirst.\n[[voice: softer]]\nSecond.\n")
    assert pairs_of(script) == [
        ("character", "MARIE"), ("dialogue", "First.\nSecond."), ("note", "voice: softer")]
    speech, note = script.elements[1:]
    assert speech.span == Span(2, 1, 4, 8)
    assert speech.span.contains(note.span.line, note.span.col)


# -- dual dialogue -----------------------------------------------------------------------------


def test_dual_dialogue_marks_both_cues():
    script = parse("BRICK\nScrew retirement.\n\nSTEEL ^\nScrew retirement.\n")
    cues = [e for e in script.elements if e.kind == "character"]
    assert [(c.name, c.dual) for c in cues] == [("BRICK", True), ("STEEL", True)]
    assert cues[1].text == "STEEL"


def test_dual_dialogue_without_space_before_caret():
    cues = only("GIRL\nHey!\n\nGUY^\nHello!\n", "character")
    assert [(c.name, c.dual) for c in cues] == [("GIRL", True), ("GUY", True)]


def test_dual_dialogue_with_extension():
    cues = only("ME\nA.\n\nBUT (Dual) ^\nB.\n", "character")
    assert [(c.name, c.extensions, c.dual) for c in cues] == [("ME", (), True), ("BUT", ("Dual",), True)]


def test_dual_dialogue_pairs_only_adjacent_blocks():
    # Action between the blocks: the earlier cue is not the first half.
    cues = only("BOB\nHi.\n\nHe leaves.\n\nJIM ^\nYo.\n", "character")
    assert [(c.name, c.dual) for c in cues] == [("BOB", False), ("JIM", True)]


def test_no_dual_without_caret():
    assert [c.dual for c in only("A\nOne.\n\nB\nTwo.\n", "character")] == [False, False]


# -- lyrics, transitions, centered text, page breaks -------------------------------------------


def test_lyrics():
    script = parse("~Willy Wonka! Willy Wonka! The amazing chocolatier!\n~Everybody give a cheer!\n")
    assert pairs_of(script) == [
        ("lyrics", "Willy Wonka! Willy Wonka! The amazing chocolatier!\nEverybody give a cheer!")]
    assert script.elements[0].span == Span(1, 1, 2, len("~Everybody give a cheer!") + 1)


def test_lyrics_then_action_without_blank_line():
    assert pairs("~This is a lyric\nAnd more action.\n~And another lyric\n") == [
        ("lyrics", "This is a lyric"), ("action", "And more action."), ("lyrics", "And another lyric")]


def test_lyrics_inside_a_dialogue_block():
    assert pairs("SINGER\n~These are the songs\n~That I sing.\n") == [
        ("character", "SINGER"), ("lyrics", "These are the songs\nThat I sing.")]
    assert kinds("ANDHERE\nIs some dialogue.\n~ This a lyric\n") == ["character", "dialogue", "lyrics"]


@pytest.mark.parametrize("line", ["CUT TO:", "SMASH CUT TO:", "GO TO:", "TO:", "    CUT TO:", "CUT TO:   "])
def test_transitions(line):
    # Trailing spaces do not matter (see docs: nyousefi and jouvence disagree).
    assert pairs(f"Before.\n\n{line}\n\nAfter.\n")[1] == ("transition", line.strip())


@pytest.mark.parametrize("line", ["boop boop TO:", "Cut to:", "CUT TO: THE CHASE", "FADE TO BLACK."])
def test_not_transitions(line):
    assert kinds(f"Before.\n\n{line}\n\nAfter.\n")[1] == "action"


def test_transition_needs_blank_lines_around_it():
    assert kinds("Before.\nCUT TO:\n\nAfter.\n") == ["action", "action"]


def test_forced_transitions():
    script = parse("> Burn to White.\n\n        >Another transition\n")
    assert pairs_of(script) == [("transition", "Burn to White."), ("transition", "Another transition")]
    assert all(e.forced for e in script.elements)


def test_centered_text():
    assert pairs(">THE END<\n\n> Centered <\n\n>      Lots of Space\t\t<\n") == [
        ("centered", "THE END"), ("centered", "Centered"), ("centered", "Lots of Space")]
    # Only a closing "<" makes centered text; otherwise it is a forced transition.
    assert kinds("> Not centered\n") == ["transition"]


def test_centered_text_keeps_emphasis():
    (card,) = parse(">**THE END**<\n").elements
    assert (card.kind, card.text, card.plain) == ("centered", "**THE END**", "THE END")


@pytest.mark.parametrize("line", ["===", "====", "=========", "   ===", "===   "])
def test_page_breaks(line):
    script = parse(f"Page one.\n\n{line}\n\nPage two.\n")
    assert kinds(f"Page one.\n\n{line}\n\nPage two.\n") == ["action", "page_break", "action"]
    assert script.elements[1].span.line == 3


def test_consecutive_page_breaks():
    assert kinds("===\n   ===\n") == ["page_break", "page_break"]


# -- sections and synopses ---------------------------------------------------------------------


def test_sections_with_depth():
    script = parse("# Act\n\n## Sequence\n\n### Scene\n\n#NoSpace\n\n# 5 \n")
    assert [(e.kind, e.text, e.depth) for e in script.elements] == [
        ("section", "Act", 1), ("section", "Sequence", 2), ("section", "Scene", 3),
        ("section", "NoSpace", 1), ("section", "5", 1)]


def test_synopses():
    script = parse("# ACT I\n\n= Set up the characters.\n\nEXT. PATIO - DAY\n\n=A new life.\n")
    assert pairs_of(script) == [
        ("section", "ACT I"), ("synopsis", "Set up the characters."),
        ("scene_heading", "EXT. PATIO - DAY"), ("synopsis", "A new life.")]


def test_section_and_synopsis_without_blank_lines():
    # nyousefi Sections-Complex: no blank line needed between them.
    assert kinds("# Act 1\n= Synopsis 1\n\nINT. LOCATION - DAY\n\n# Act 2\n## Sequence 1\n") == [
        "section", "synopsis", "scene_heading", "section", "section"]


def test_heading_right_above_a_synopsis():
    # fountain-tools' writer puts the synopsis straight under the heading: still a heading.
    assert kinds("EXT. PATIO - DAY\n= This scene sets up a new life.\n\nA gorgeous day.\n") == [
        "scene_heading", "synopsis", "action"]
    # A cue needs speech, not a synopsis, below it.
    assert kinds("\nBOB\n= He has nothing to say.\n") == ["action", "synopsis"]


def test_cue_right_after_a_section():
    # A section is structure: the cue after it needs no blank line of its own.
    assert kinds("# Act 1\nBOB\nHi.\n") == ["section", "character", "dialogue"]


# -- emphasis (inline.runs itself: tests/test_inline.py) -----------------------------------------


def test_element_plain_drops_markup():
    (action,) = parse("From what seems like only INCHES AWAY. _Steel's face_ **FILLS** it.\n").elements
    assert action.plain == "From what seems like only INCHES AWAY. Steel's face FILLS it."
    assert action.text.count("*") == 4       # text keeps the markup


# -- notes -------------------------------------------------------------------------------------


def test_inline_note():
    script = parse("Before1 [[some notes]]After1\n")
    action, note = script.elements
    assert (action.kind, action.text) == ("action", "Before1 After1")
    assert (note.kind, note.text, note.inline) == ("note", "some notes", True)
    assert note.span == Span(1, 9, 1, 23)
    assert note.body_start == (1, 11)


def test_several_notes_on_one_line():
    script = parse("Multiple [[notes]]on one[[line]]\n")
    assert pairs_of(script) == [("action", "Multiple on one"), ("note", "notes"), ("note", "line")]


def test_multi_line_note():
    script = parse("Before2 [[multiline\nnote\nhere]]After2\n")
    note = only("Before2 [[multiline\nnote\nhere]]After2\n", "note")[0]
    assert note.text == "multiline\nnote\nhere"
    assert note.span == Span(1, 9, 3, 7)
    assert [e.kind for e in script.elements] == ["action", "note"]
    assert not script.diagnostics


def test_note_with_two_space_line_stays_one_note():
    note = only("Before3 [[multiline\nnote\n  \nwith a blank line]]After3\n", "note")[0]
    assert note.text == "multiline\nnote\n  \nwith a blank line"


def test_blank_line_breaks_a_note():
    text = "This is not [[\na proper note\n\nbecause it contains a blank line\n]]\n"
    script = parse(text)
    assert codes(text) == ["E101"]
    assert script.diagnostics[0].span == Span(1, 13, 1, 15)
    # The brackets stay in the text as written.
    assert pairs_of(script) == [("action", "This is not [[\na proper note"),
                                ("action", "because it contains a blank line\n]]")]


def test_unterminated_note():
    assert codes("Marie [[never closed\n") == ["E101"]
    assert kinds("Marie [[never closed\n") == ["action"]


def test_note_paragraph_does_not_make_an_empty_paragraph():
    text = ("Before full paragraph note\n\n[[Note as its own paragraph\non several lines]]\n\n"
            "After full paragraph note\n")
    assert kinds(text) == ["action", "note", "action"]


def test_note_spanning_lines_inside_a_paragraph():
    # The lines the note takes up (even its "  " line) vanish: one paragraph remains.
    text = "Scott pauses.[[This section needs work.\n  \nDefinitely coffee.]] He looks around.\n"
    script = parse(text)
    assert pairs_of(script) == [("action", "Scott pauses.\n He looks around."),
                                ("note", "This section needs work.\n  \nDefinitely coffee.")]
    assert script.elements[0].span == Span(1, 1, 3, len("Definitely coffee.]] He looks around.") + 1)


def test_note_ending_at_the_start_of_a_line():
    # "]]" at column 1 is no blank line inside the note.
    text = "[[Script note.\n- blah blah blah\n]]\n\nINT. A - DAY\n"
    assert codes(text) == []
    assert kinds(text) == ["note", "scene_heading"]


# -- boneyard ----------------------------------------------------------------------------------


def test_boneyard_over_several_lines_is_dropped():
    text = ("As he rattles off the long list.\n\nCUT TO:\n/*\nINT. GARAGE - DAY\n\nBRICK\n"
            "This is everybody.\n\nCUT TO:\n*/\nEXT. PALATIAL MANSION - DAY\n\nA MAN drinks a beer.\n")
    script = parse(text)
    # fountain.io's own example: the hidden scene leaves the transition and heading intact.
    assert pairs_of(script) == [
        ("action", "As he rattles off the long list."), ("transition", "CUT TO:"),
        ("scene_heading", "EXT. PALATIAL MANSION - DAY"), ("action", "A MAN drinks a beer.")]
    assert script.elements[2].span.line == 12


def test_boneyard_lines_inside_a_paragraph_are_transparent():
    assert pairs("This is something.\n/*\nnope\nnope\n*/\nOK.\n") == [("action", "This is something.\nOK.")]


def test_inline_and_nested_boneyard():
    assert pairs("Action. /*ignored*/action. /*ignored /*nested*/ */action.\n") == [
        ("action", "Action. action. action.")]


def test_boneyard_line_between_cue_and_dialogue():
    assert pairs("BOB\n/* Old line. */\nNew line.\n") == [("character", "BOB"), ("dialogue", "New line.")]


def test_unterminated_boneyard_hides_the_rest():
    text = "Marie sleeps.\n\n/* the rest\n\nBOB\nHello.\n"
    script = parse(text)
    assert codes(text) == ["E102"]
    assert script.diagnostics[0].span == Span(3, 1, 3, 3)
    assert pairs_of(script) == [("action", "Marie sleeps.")]


def test_notes_inside_boneyard_are_hidden():
    assert kinds("/* [[shot: wide]] */\nMarie sleeps.\n") == ["action"]


# -- line endings, BOM and Unicode -------------------------------------------------------------


SIMPLE = "EXT. SOMEWHERE - DAY\n\nGUY walks.\n\nGUY\nSo what's up?\n"
SIMPLE_PAIRS = [("scene_heading", "EXT. SOMEWHERE - DAY"), ("action", "GUY walks."),
                ("character", "GUY"), ("dialogue", "So what's up?")]


@pytest.mark.parametrize("text", [
    SIMPLE, SIMPLE.replace("\n", "\r\n"), SIMPLE.replace("\n", "\r"), "\ufeff" + SIMPLE.replace("\n", "\r\n"),
], ids=["lf", "crlf", "cr", "bom-crlf"])
def test_line_endings_and_bom(text):
    script = parse(text)
    assert pairs_of(script) == SIMPLE_PAIRS
    assert [e.span.line for e in script.elements] == [1, 3, 5, 6]
    assert script.elements[0].span == Span(1, 1, 1, len("EXT. SOMEWHERE - DAY") + 1)


def test_unicode_action_lines_stay_action():
    text = "Hello\nこんにちは\nпривет\n你好\n안녕하세요\nأهلا"
    assert kinds(text) == ["action"]
    assert parse(text).elements[0].span == Span(1, 1, 6, 5)


@pytest.mark.parametrize("text", [
    "开始\n约翰进入医院。\n",
    "\nジョン\n（失われた）\nこの場所は何ですか？\n",
])
def test_cjk_lines_are_never_cues(text):
    assert set(kinds(text)) == {"action"}


def test_accented_and_cyrillic_cues_and_dialogue():
    script = parse("\nÉLODIE\nBonjour à tous.\n\nМАША\nПривет.\n")
    assert pairs_of(script) == [("character", "ÉLODIE"), ("dialogue", "Bonjour à tous."),
                                ("character", "МАША"), ("dialogue", "Привет.")]


def test_columns_count_code_points():
    (note,) = only("Élodie 你好 [[x]]\n", "note")
    assert note.span == Span(1, 11, 1, 16)


# -- spans and order ---------------------------------------------------------------------------


def test_every_element_has_a_span_in_source_order():
    text = ("Title: T\n\nINT. HOUSE - DAY #1#\n\nMarie [[x]] sleeps.\n\nMARIE (V.O.)\n(softly)\nHello.\n"
            "\n> CUT TO:\n\n# Act\n= Synopsis\n\n~La la\n\n===\n\n>END<\n")
    script = parse(text)
    assert [(e.kind, e.span.line) for e in script.elements] == [
        ("scene_heading", 3), ("action", 5), ("note", 5), ("character", 7), ("parenthetical", 8),
        ("dialogue", 9), ("transition", 11), ("section", 13), ("synopsis", 14), ("lyrics", 16),
        ("page_break", 18), ("centered", 20)]
    lines = text.split("\n")
    for element in script.elements:
        assert 1 <= element.span.col <= len(lines[element.span.line - 1]) + 1
        assert element.span.end_col <= len(lines[element.span.end_line - 1]) + 1


def test_empty_and_blank_input():
    assert parse("").elements == ()
    assert parse("\n\n   \n").elements == ()
    assert parse("").title_page == ()


def test_grouping_puts_every_lexed_line_in_one_element():
    # The grouping step (compiler/fountain.py) neither drops nor repeats a classified line: each
    # line the lexer classified lies in exactly one element or title field.
    from moviola.compiler import lexer, notes
    from moviola.compiler.source import Source

    for text in SAMPLE_TEXTS():
        source = Source.from_text(text)
        lexed = sorted(line.number for line in lexer.lex(notes.hide(source), source.lines))
        script = parse(text)
        covered = [n for e in script.elements if e.kind != "note"
                   for n in range(e.span.line, e.span.end_line + 1)]
        covered += [n for f in script.title_page for n in range(f.span.line, f.span.end_line + 1)]
        assert all(covered.count(n) == 1 for n in lexed)


def SAMPLE_TEXTS():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    return [p.read_text("utf-8") for p in sorted((root / "samples").glob("*.fountain"))
            + sorted((root / "tests" / "golden").glob("*.fountain"))]


def test_a_heading_is_split_once_into_setting_place_and_time():
    script = parse("\nINT./EXT. *WASH-HOUSE* - DAWN #3#\n\n.FORCED PLACE\n\nEXT. BANK\n")
    headings = [e.heading for e in script.elements if e.kind == "scene_heading"]
    assert [(h.setting, h.place, h.time) for h in headings] == [
        ("INT/EXT", "WASH-HOUSE", "DAWN"), (None, "FORCED PLACE", None), ("EXT", "BANK", None)]
    # the place's span is where it is written (the markup around it is not part of it)
    assert headings[0].place_span == Span(2, 12, 2, 22)
