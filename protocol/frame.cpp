#include "protocol/frame.hpp"

namespace rstmdb::protocol {

std::string_view framing_name(Framing f) noexcept {
  switch (f) {
    case Framing::Rcpx:
      return "rcpx";
    case Framing::Rcp1:
      return "rcp1";
    case Framing::Jsonl:
      return "jsonl";
  }
  return "unknown";
}

}  // namespace rstmdb::protocol
