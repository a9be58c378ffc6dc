from chainswarm.routing.text import TextStream


def stream_all(tokenizer, ids, stop=()):
    stream = TextStream(tokenizer, stop)
    pieces = []
    for i in ids:
        pieces.append(stream.push(i))
        if stream.stopped:
            break
    pieces.append(stream.finish())
    return pieces, stream


def test_pieces_concatenate_to_the_decoded_text(tiny_tokenizer) -> None:
    text = "Hello world, how are you? The quick brown fox. ünïcödé ✓ 🦊"
    ids = tiny_tokenizer.encode(text, add_special_tokens=False)
    pieces, _ = stream_all(tiny_tokenizer, ids)
    assert "".join(pieces) == tiny_tokenizer.decode(ids)
    assert "\ufffd" not in "".join(pieces)  # split characters are held back, never emitted


def test_stop_string_cuts_the_text_and_stops(tiny_tokenizer) -> None:
    ids = tiny_tokenizer.encode("Hello world, how are you today?", add_special_tokens=False)
    pieces, stream = stream_all(tiny_tokenizer, ids, stop=("how are",))
    assert "".join(pieces) == "Hello world, "
    assert stream.stopped
    assert len(stream.token_ids) < len(ids)  # generation could end as soon as it appeared


def test_text_that_may_begin_a_stop_string_is_held_back(tiny_tokenizer) -> None:
    ids = tiny_tokenizer.encode("Hello world", add_special_tokens=False)
    stream = TextStream(tiny_tokenizer, stop=("world peace",))
    emitted = "".join(stream.push(i) for i in ids)
    assert "wor" not in emitted
    assert emitted + stream.finish() == "Hello world"


def test_special_tokens_are_not_emitted(tiny_tokenizer) -> None:
    ids = tiny_tokenizer.encode("Hi", add_special_tokens=False) + [tiny_tokenizer.eos_token_id]
    pieces, _ = stream_all(tiny_tokenizer, ids)
    assert "".join(pieces) == "Hi"
