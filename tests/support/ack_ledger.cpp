#include "ack_ledger.hpp"

#include <boost/json.hpp>

#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

namespace rstmdb::test {

namespace json = boost::json;

// --- AckLedger ----------------------------------------------------------------------------------

void AckLedger::acked(Ack ack) {
  std::lock_guard lock(mutex_);
  const auto offset = ack.offset;
  acks_.emplace(offset, std::move(ack));
}

void AckLedger::acked_machine(const std::string& machine, std::uint32_t version) {
  std::lock_guard lock(mutex_);
  machines_.emplace(machine, version);
}

void AckLedger::issued_event(const std::string& event_id) {
  std::lock_guard lock(mutex_);
  events_.insert(event_id);
}

void AckLedger::issued_instance(const std::string& instance_id) {
  std::lock_guard lock(mutex_);
  instances_.insert(instance_id);
}

void AckLedger::refused(const std::vector<std::string>& instance_ids,
                        const std::vector<std::string>& event_ids) {
  std::lock_guard lock(mutex_);
  refused_instances_.insert(instance_ids.begin(), instance_ids.end());
  refused_events_.insert(event_ids.begin(), event_ids.end());
}

bool AckLedger::was_refused_event(const std::string& event_id) const {
  std::lock_guard lock(mutex_);
  return refused_events_.count(event_id) > 0;
}

bool AckLedger::was_refused_instance(const std::string& instance_id) const {
  std::lock_guard lock(mutex_);
  return refused_instances_.count(instance_id) > 0;
}

std::multimap<std::uint64_t, Ack> AckLedger::acks() const {
  std::lock_guard lock(mutex_);
  return acks_;
}

std::set<std::pair<std::string, std::uint32_t>> AckLedger::machines() const {
  std::lock_guard lock(mutex_);
  return machines_;
}

bool AckLedger::was_issued_event(const std::string& event_id) const {
  std::lock_guard lock(mutex_);
  return events_.count(event_id) > 0;
}

bool AckLedger::was_issued_instance(const std::string& instance_id) const {
  std::lock_guard lock(mutex_);
  return instances_.count(instance_id) > 0;
}

std::size_t AckLedger::forget_after(std::uint64_t latest) {
  std::lock_guard lock(mutex_);
  const auto first = acks_.upper_bound(latest);
  const auto n = static_cast<std::size_t>(std::distance(first, acks_.end()));
  acks_.erase(first, acks_.end());
  return n;
}

void AckLedger::forget_machines_except(const std::set<std::pair<std::string, std::uint32_t>>& kept) {
  std::lock_guard lock(mutex_);
  std::erase_if(machines_, [&](const auto& m) { return kept.count(m) == 0; });
}

std::size_t AckLedger::size() const {
  std::lock_guard lock(mutex_);
  return acks_.size();
}

namespace {

json::array strings(const std::set<std::string>& set) {
  json::array a;
  for (const auto& s : set)
    a.emplace_back(s);
  return a;
}

void read_strings(const json::value& v, std::set<std::string>& out) {
  for (const auto& s : v.as_array())
    out.emplace(s.as_string());
}

}  // namespace

void AckLedger::save(const std::string& path) const {
  std::lock_guard lock(mutex_);
  json::object doc;
  json::array acks;
  for (const auto& [offset, a] : acks_) {
    acks.push_back(json::object{{"offset", a.offset},
                                {"type", a.type},
                                {"instance_id", a.instance_id},
                                {"state", a.state},
                                {"ctx_json", a.ctx_json},
                                {"event_id", a.event_id}});
  }
  doc["acks"] = std::move(acks);
  json::array machines;
  for (const auto& [machine, version] : machines_)
    machines.push_back(json::object{{"machine", machine}, {"version", version}});
  doc["machines"] = std::move(machines);
  doc["events"] = strings(events_);
  doc["instances"] = strings(instances_);
  doc["refused_events"] = strings(refused_events_);
  doc["refused_instances"] = strings(refused_instances_);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << json::serialize(doc);
  if (!out.flush()) throw std::runtime_error("cannot write " + path);
}

void AckLedger::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) throw std::runtime_error("cannot read " + path);
  std::lock_guard lock(mutex_);
  AckLedger& ledger = *this;
  try {
    const json::object doc = json::parse(text.str()).as_object();
    for (const auto& v : doc.at("acks").as_array()) {
      const auto& a = v.as_object();
      Ack ack{a.at("offset").to_number<std::uint64_t>(),    std::string(a.at("type").as_string()),
              std::string(a.at("instance_id").as_string()), std::string(a.at("state").as_string()),
              std::string(a.at("ctx_json").as_string()),    std::string(a.at("event_id").as_string())};
      ledger.acks_.emplace(ack.offset, std::move(ack));
    }
    for (const auto& v : doc.at("machines").as_array()) {
      const auto& m = v.as_object();
      ledger.machines_.emplace(std::string(m.at("machine").as_string()),
                               m.at("version").to_number<std::uint32_t>());
    }
    read_strings(doc.at("events"), ledger.events_);
    read_strings(doc.at("instances"), ledger.instances_);
    read_strings(doc.at("refused_events"), ledger.refused_events_);
    read_strings(doc.at("refused_instances"), ledger.refused_instances_);
  } catch (const std::exception& e) {
    throw std::runtime_error(path + ": " + e.what());
  }
}

}  // namespace rstmdb::test
