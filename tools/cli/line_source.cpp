#include "tools/cli/line_source.hpp"

#include <histedit.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <cwchar>

namespace rstmdb::cli {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;
volatile std::sig_atomic_t g_resized = 0;

extern "C" void on_sigint(int) {
  g_interrupted = 1;
}

extern "C" void on_sigwinch(int) {
  g_resized = 1;
}

class TerminalSource final : public LineSource {
 public:
  TerminalSource(std::string prompt, std::optional<std::string> history_path,
                 std::vector<std::string> completions)
      : prompt_(std::move(prompt)),
        history_path_(std::move(history_path)),
        completions_(std::move(completions)) {
    history_ = history_init();
    HistEvent ev;
    history(history_, &ev, H_SETSIZE, kHistoryLines);
    history(history_, &ev, H_SETUNIQUE, 1);
    if (history_path_) history(history_, &ev, H_LOAD, history_path_->c_str());

    el_ = el_init("rstmdb-cli", stdin, stdout, stderr);
    el_set(el_, EL_CLIENTDATA, this);
    el_set(el_, EL_EDITOR, "emacs");
    // Our own signal handling: libedit's would re-send SIGINT to the whole process group.
    el_set(el_, EL_SIGNAL, 0);
    el_set(el_, EL_PROMPT, &TerminalSource::prompt_of);
    el_set(el_, EL_HIST, history, history_);
    el_set(el_, EL_GETCFN, &TerminalSource::read_char);
    el_set(el_, EL_ADDFN, "rstmdb-complete", "Complete a command name", &TerminalSource::complete);
    el_set(el_, EL_BIND, "^I", "rstmdb-complete", nullptr);
    el_source(el_, nullptr);  // the user's ~/.editrc, if any

    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: the read must return EINTR
    sigaction(SIGINT, &sa, &old_int_);
    sa.sa_handler = on_sigwinch;
    sigaction(SIGWINCH, &sa, &old_winch_);
  }

  ~TerminalSource() override {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGWINCH, &old_winch_, nullptr);
    el_end(el_);
    history_end(history_);
  }

  Status read(std::string& line) override {
    // A watch may have replaced the SIGINT handler meanwhile; put ours back.
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    g_interrupted = 0;
    int count = 0;
    const char* text = el_gets(el_, &count);
    if (g_interrupted) {
      g_interrupted = 0;
      el_reset(el_);
      return Status::Interrupted;
    }
    if (text == nullptr || count <= 0) return Status::Eof;
    line.assign(text, static_cast<std::size_t>(count));
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
      line.pop_back();
    return Status::Line;
  }

  void remember(const std::string& line) override {
    HistEvent ev;
    history(history_, &ev, H_ENTER, line.c_str());
    if (!history_path_) return;
    history(history_, &ev, H_SAVE, history_path_->c_str());
    ::chmod(history_path_->c_str(), S_IRUSR | S_IWUSR);  // it may hold instance data
  }

 private:
  static TerminalSource* self(EditLine* el) {
    void* data = nullptr;
    el_get(el, EL_CLIENTDATA, &data);
    return static_cast<TerminalSource*>(data);
  }

  static const char* prompt_of(EditLine* el) { return self(el)->prompt_.c_str(); }

  // One character from the terminal; returns -1 (ending el_gets) when Ctrl+C interrupted the
  // read, 0 at end of input.
  static int read_char(EditLine* el, wchar_t* out) {
    std::mbstate_t state{};
    while (true) {
      char c = 0;
      const ssize_t n = ::read(STDIN_FILENO, &c, 1);
      if (n == 0) return 0;
      if (n < 0) {
        if (errno != EINTR) return -1;
        if (g_interrupted) return -1;
        if (g_resized) {
          g_resized = 0;
          el_resize(el);
        }
        continue;
      }
      const std::size_t r = std::mbrtowc(out, &c, 1, &state);
      if (r == static_cast<std::size_t>(-2)) continue;  // an incomplete multibyte character
      if (r == static_cast<std::size_t>(-1)) {          // not valid in the locale: take the byte
        state = std::mbstate_t{};
        *out = static_cast<unsigned char>(c);
      }
      return 1;
    }
  }

  // Tab: completes the first word of the line to a command name; lists the candidates when
  // several remain.
  static unsigned char complete(EditLine* el, int) {
    TerminalSource* me = self(el);
    const LineInfo* li = el_line(el);
    const std::string before(li->buffer, static_cast<std::size_t>(li->cursor - li->buffer));
    const std::size_t start = before.find_first_not_of(" \t");
    const std::string word = start == std::string::npos ? std::string() : before.substr(start);
    if (word.find_first_of(" \t") != std::string::npos) return CC_ERROR;  // not in the first word
    std::vector<const std::string*> matches;
    for (const std::string& c : me->completions_)
      if (c.compare(0, word.size(), word) == 0) matches.push_back(&c);
    if (matches.empty()) return CC_ERROR;
    if (matches.size() == 1) {
      const std::string rest = matches[0]->substr(word.size()) + " ";
      el_insertstr(el, rest.c_str());
      return CC_REFRESH;
    }
    std::size_t common = matches[0]->size();
    for (const std::string* m : matches) {
      std::size_t k = 0;
      while (k < common && k < m->size() && (*m)[k] == (*matches[0])[k])
        ++k;
      common = k;
    }
    if (common > word.size()) {
      el_insertstr(el, matches[0]->substr(word.size(), common - word.size()).c_str());
      return CC_REFRESH;
    }
    std::string list = "\n";
    for (const std::string* m : matches)
      list += *m + "  ";
    list += "\n";
    std::fputs(list.c_str(), stdout);
    std::fflush(stdout);
    return CC_REDISPLAY;
  }

  std::string prompt_;
  std::optional<std::string> history_path_;
  std::vector<std::string> completions_;
  History* history_ = nullptr;
  EditLine* el_ = nullptr;
  struct sigaction old_int_ {};
  struct sigaction old_winch_ {};
};

class StreamSource final : public LineSource {
 public:
  Status read(std::string& line) override {
    line.clear();
    while (true) {
      const int c = std::getc(stdin);
      if (c == EOF) return line.empty() ? Status::Eof : Status::Line;
      if (c == '\n') break;
      if (line.size() >= kMaxInputLineBytes) {
        // Skip the rest of the over-long line.
        int d = 0;
        while ((d = std::getc(stdin)) != EOF && d != '\n') {
        }
        return Status::TooLong;
      }
      line.push_back(static_cast<char>(c));
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return Status::Line;
  }

  void remember(const std::string&) override {}
};

}  // namespace

std::unique_ptr<LineSource> make_terminal_source(std::string prompt, std::optional<std::string> history_path,
                                                 std::vector<std::string> completions) {
  return std::make_unique<TerminalSource>(std::move(prompt), std::move(history_path), std::move(completions));
}

std::unique_ptr<LineSource> make_stream_source() {
  return std::make_unique<StreamSource>();
}

}  // namespace rstmdb::cli
