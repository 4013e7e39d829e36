#include "config/config.hpp"

namespace rstmdb::config {

std::string FsyncPolicy::to_string() const {
  switch (kind) {
    case Kind::EveryWrite:
      return "every_write";
    case Kind::EveryN:
      return "every_n:" + std::to_string(n);
    case Kind::EveryMs:
      return "every_ms:" + std::to_string(n);
    case Kind::Never:
      return "never";
  }
  return "every_write";
}

}  // namespace rstmdb::config
