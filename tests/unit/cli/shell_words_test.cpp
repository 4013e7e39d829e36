#include "tools/cli/shell_words.hpp"

#include <catch2/catch.hpp>

using namespace rstmdb::cli;
using Words = std::vector<std::string>;

namespace {

Words split(std::string_view line) {
  auto r = split_shell_words(line);
  INFO(line);
  if (auto* e = std::get_if<ShellWordsError>(&r)) FAIL("unexpected error: " << e->message);
  return std::get<Words>(r);
}

std::string error(std::string_view line) {
  auto r = split_shell_words(line);
  REQUIRE(std::holds_alternative<ShellWordsError>(r));
  return std::get<ShellWordsError>(r).message;
}

}  // namespace

TEST_CASE("blanks separate words", "[shell_words]") {
  CHECK(split("") == Words{});
  CHECK(split("   \t ") == Words{});
  CHECK(split("get  o-1\t") == Words{"get", "o-1"});
}

TEST_CASE("single quotes keep everything", "[shell_words]") {
  CHECK(split(R"(c order 1 o-1 '{"a": "x y", "b": "\n"}')") ==
        Words{"c", "order", "1", "o-1", R"({"a": "x y", "b": "\n"})"});
  CHECK(split("a '' b") == Words{"a", "", "b"});
  CHECK(split("ab'c d'e") == Words{"abc de"});
}

TEST_CASE("double quotes and backslashes", "[shell_words]") {
  CHECK(split(R"("x y" "a\"b" "c\\d" "e\nf")") == Words{"x y", "a\"b", "c\\d", "e\\nf"});
  CHECK(split(R"(a\ b \'q)") == Words{"a b", "'q"});
}

TEST_CASE("bare JSON stays one word, quotes and spaces untouched", "[shell_words]") {
  CHECK(split(R"(c order 1 o-1 {"note": "two words", "n": [1, 2]})") ==
        Words{"c", "order", "1", "o-1", R"({"note": "two words", "n": [1, 2]})"});
  CHECK(split(R"(a o PAY {"s": "br}ace \" quote"} tail)") ==
        Words{"a", "o", "PAY", R"({"s": "br}ace \" quote"})", "tail"});
  CHECK(split(R"([1, [2, 3]] x)") == Words{"[1, [2, 3]]", "x"});
  // Unbalanced: the rest of the line (the JSON parser will say what is wrong).
  CHECK(split(R"(pm m 1 {"states": [)") == Words{"pm", "m", "1", R"({"states": [)"});
  // Only at the start of a word.
  CHECK(split("a{b c}") == Words{"a{b", "c}"});
}

TEST_CASE("unterminated quotes are errors", "[shell_words]") {
  CHECK(error("a 'b") == "unterminated single quote");
  CHECK(error("a \"b") == "unterminated double quote");
  CHECK(error("a \\") == "trailing backslash");
}
