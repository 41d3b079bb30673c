"""build_vocab.py: BERT-Chinese special-token layout, ordering, coverage, limits and the CLI."""

import os
import subprocess
import sys

import pytest

import build_vocab
from model import tokenization

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CORPUS = [
    "迈向充满希望的新世纪——一九九八年新年讲话（附图片１张）\n",
    "１２月３１日，中共中央总书记、国家主席江泽民发表１９９８年新年讲话。\n",
    "\n",
    "ELECTRA 模型在 CMRC 2018 上的 F1 为 84.3%；Café naïve ＡＢＣ！\n",
    "Tabs\tand\u3000full-width spaces, control\x07chars and emoji 😀 too.\n",
]


def test_special_tokens_have_bert_chinese_indices():
  vocab = build_vocab.build_vocab(CORPUS)
  assert vocab[0] == "[PAD]"
  assert vocab[1:100] == [f"[unused{int(i)}]" for i in range(1, 100)]
  assert vocab[100:104] == ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
  assert len(set(vocab)) == len(vocab)


def test_order_is_count_then_token_string():
  vocab = build_vocab.build_vocab(["b a a 中 中 中", "Ab b"])
  # Counts: a 3 (two words "a", one "ab" lower-cased), 中 3, b 2, ##b 1; ties by string.
  assert vocab[104:] == ["a", "中", "b", "##b"]


def test_words_become_chars_and_continuation_chars():
  assert build_vocab.build_vocab(["xyz"])[104:] == ["##y", "##z", "x"]  # ties: by string
  assert build_vocab.build_vocab(["XY!"], do_lower_case=False)[104:] == ["!", "##Y", "X"]


def test_deterministic_regardless_of_line_order():
  first = build_vocab.build_vocab(CORPUS)
  assert build_vocab.build_vocab(list(reversed(CORPUS))) == first
  assert build_vocab.build_vocab(line.encode("utf-8") for line in CORPUS) == first


@pytest.mark.parametrize("do_lower_case", [True, False])
def test_every_corpus_char_gets_a_known_id(tmp_path, do_lower_case):
  path = str(tmp_path / "vocab.txt")
  build_vocab.write_vocab(build_vocab.build_vocab(CORPUS, do_lower_case=do_lower_case), path)
  tokenizer = tokenization.FullTokenizer(path, do_lower_case=do_lower_case)
  unk_id = tokenizer.vocab["[UNK]"]
  for line in CORPUS:
    ids = tokenizer.tokenize_to_ids(line)
    assert unk_id not in ids, (line, tokenizer.tokenize(line))
    # Nothing but whitespace and control chars may vanish: every visible char is covered.
    text = "".join(tokenizer.convert_ids_to_tokens(ids)).replace("##", "")
    visible = "".join(tokenizer.basic_tokenizer.tokenize(line))
    assert text == visible


def test_min_count_and_vocab_size_limits():
  lines = ["a a a b b c"]
  assert build_vocab.build_vocab(lines, min_count=2)[104:] == ["a", "b"]
  assert build_vocab.build_vocab(lines, vocab_size=105)[104:] == ["a"]
  assert len(build_vocab.build_vocab(lines, vocab_size=104)) == 104
  with pytest.raises(ValueError):
    build_vocab.build_vocab(lines, vocab_size=50)


def test_main_writes_atomically_and_reports(tmp_path, capsys):
  (tmp_path / "a.txt").write_text("中文 abc\n", encoding="utf-8")
  (tmp_path / "b.txt").write_text("中国\n", encoding="utf-8")
  output = tmp_path / "out" / "vocab.txt"
  output.parent.mkdir()
  output.write_text("old\n", encoding="utf-8")
  assert build_vocab.main(["--input", str(tmp_path / "*.txt"), "--output", str(output)]) == 0
  tokens = output.read_text(encoding="utf-8").split("\n")
  assert tokens[104:] == ["中", "##b", "##c", "a", "国", "文", ""]
  assert os.listdir(output.parent) == ["vocab.txt"]  # no temp file left behind
  assert "wrote 110 tokens" in capsys.readouterr().out


def run_cli(*args):
  return subprocess.run([sys.executable, "build_vocab.py", *args], cwd=REPO_ROOT,
                        capture_output=True, text=True, timeout=60, check=False)


def test_cli_missing_input_is_a_one_line_error(tmp_path):
  result = run_cli("--input", str(tmp_path / "missing.txt"), "--output",
                   str(tmp_path / "vocab.txt"))
  assert result.returncode == 2
  assert result.stderr.strip().count("\n") == 0
  assert "input file not found" in result.stderr and "Traceback" not in result.stderr
  assert not (tmp_path / "vocab.txt").exists()


def assert_refused(result, tmp_path, *fragments):
  lines = result.stderr.strip().splitlines()
  assert result.returncode == 2 and len(lines) == 1, result.stderr
  assert lines[0].startswith("build_vocab.py: error: ")
  for fragment in fragments:
    assert fragment in lines[0]
  assert not (tmp_path / "vocab.txt").exists()
  assert not [name for name in os.listdir(tmp_path) if name.startswith(".vocab-")]


def test_cli_refuses_an_empty_corpus(tmp_path):
  (tmp_path / "empty.txt").write_text("\n  \n", encoding="utf-8")
  result = run_cli("--input", str(tmp_path / "empty.txt"), "--output", str(tmp_path / "vocab.txt"))
  assert_refused(result, tmp_path, "no text in", "empty.txt", "only the 104 special tokens")


def test_cli_refuses_a_gbk_corpus_naming_line_and_byte(tmp_path):
  (tmp_path / "gbk.txt").write_bytes("ok line\n".encode() + "中文语料".encode("gbk") + b"\n")
  result = run_cli("--input", str(tmp_path / "gbk.txt"), "--output", str(tmp_path / "vocab.txt"))
  assert_refused(result, tmp_path, "gbk.txt: line 2, byte 8: not UTF-8", "iconv")


def test_cli_refuses_a_binary_file(tmp_path):
  (tmp_path / "model.bin").write_bytes(b"abc\n\x00\x01\x02\x03")
  result = run_cli("--input", str(tmp_path / "model.bin"), "--output", str(tmp_path / "vocab.txt"))
  assert_refused(result, tmp_path, "model.bin: line 2, byte 4: a NUL byte", "binary")


def test_cli_refuses_an_output_in_a_missing_directory(tmp_path):
  (tmp_path / "a.txt").write_text("中文\n", encoding="utf-8")
  output = tmp_path / "missing" / "vocab.txt"
  result = run_cli("--input", str(tmp_path / "a.txt"), "--output", str(output))
  assert_refused(result, tmp_path, f"cannot write {output}", "does not exist")
  assert not (tmp_path / "missing").exists()


def test_cli_help():
  result = run_cli("--help")
  assert result.returncode == 0
  assert "--vocab-size" in result.stdout and "--no-lower-case" in result.stdout
