#include <catch2/catch.hpp>

#include "config/config_test_support.hpp"
#include "config/loader.hpp"
#include "config/tls_fixture.hpp"

using namespace rstmdb::config;
using namespace rstmdb::config::test;

namespace {

// Besides tls_fixture.hpp's certificate and key: a second unrelated key, a 3-day certificate
// (for the expiry warning) and the first key encrypted with a passphrase, all made with
// `openssl req -x509 -newkey ec` (P-256).
constexpr std::string_view kOtherKey = R"pem(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgyzpvSOdD3rnYxuU6
wnI1unuonmq1Kxnp+2wkpzHAZu6hRANCAAQEmHUtTldp8kp3knesD0NI7H5LB1lY
/BhY1zDxnsg3yzJ4FFZ8BTrxzrObyosjvZQVNSFL/NyRlEhAyZFaAfZA
-----END PRIVATE KEY-----
)pem";
constexpr std::string_view kShortCert = R"pem(-----BEGIN CERTIFICATE-----
MIIBdTCCARugAwIBAgIUKhliMoj+JHVNHvk1lP8VHsw+dRcwCgYIKoZIzj0EAwIw
EDEOMAwGA1UEAwwFc2hvcnQwHhcNMjYxMTI0MjAzOTI1WhcNMjYxMTI3MjAzOTI1
WjAQMQ4wDAYDVQQDDAVzaG9ydDBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABASY
dS1OV2nySneSd6wPQ0jsfksHWVj8GFjXMPGeyDfLMngUVnwFOvHOs5vKiyO9lBU1
IUv83JGUSEDJkVoB9kCjUzBRMB0GA1UdDgQWBBRnW6teex+5BQAG/jC+fhD+4DpF
bjAfBgNVHSMEGDAWgBRnW6teex+5BQAG/jC+fhD+4DpFbjAPBgNVHRMBAf8EBTAD
AQH/MAoGCCqGSM49BAMCA0gAMEUCIQDMFH1OD0v2Ds26GEo/Q+2uEjXycu57iiwa
PwHOLPOtxgIgHeN+kdALzJRsezQnz5vh2DLTTDmBM5iUaceEDVq6oGY=
-----END CERTIFICATE-----
)pem";
constexpr std::string_view kEncryptedKey = R"pem(-----BEGIN EC PRIVATE KEY-----
Proc-Type: 4,ENCRYPTED
DEK-Info: AES-256-CBC,BB0666B483D8661BD5EBD53AED475D1F

zvqjS37hT/v1ihItQAbwgc66huqsRGykN7bBkISXzqaTEa/2587Je7E0kjKO6Vw1
6XoTTDnhrfpvadR/hNQW4BMZPmZHi9Qba396nI/zisAVbkXibY0XLb6I6o/1DgsP
WMmP3bucDmrTpcWOLSxrv2sADP2QXlT4m04tU6amCeo=
-----END EC PRIVATE KEY-----
)pem";

struct TlsFiles {
  TempDir dir;
  std::string cert = dir.write("tls.crt", kCert);
  std::string key = dir.write("tls.key", kKey);
  std::string other_key = dir.write("other.key", kOtherKey);
  std::string short_cert = dir.write("short.crt", kShortCert);
  std::string encrypted_key = dir.write("enc.key", kEncryptedKey);
  std::string ca = dir.write("ca.crt", kCert);
  std::string garbage = dir.write("garbage.pem", "not a pem file\n");
};

LoadResult load_tls(const std::map<std::string, std::string>& env) {
  return load_env(env);
}

}  // namespace

TEST_CASE("a matching certificate and key load", "[config][tls]") {
  TlsFiles f;
  const LoadResult r =
      load_tls({{"RSTMDB_TLS_ENABLED", "true"}, {"RSTMDB_TLS_CERT", f.cert}, {"RSTMDB_TLS_KEY", f.key}});
  INFO(joined(r.errors));
  REQUIRE(r.ok());
  CHECK(r.warnings.empty());
  CHECK(r.config.tls.enabled);
  CHECK(r.config.tls.cert_path == f.cert);
}

TEST_CASE("a key that does not match the certificate is an error", "[config][tls]") {
  TlsFiles f;
  const LoadResult r = load_tls(
      {{"RSTMDB_TLS_ENABLED", "true"}, {"RSTMDB_TLS_CERT", f.cert}, {"RSTMDB_TLS_KEY", f.other_key}});
  CHECK(
      any_line_has(r.errors, {"tls.key_path (env RSTMDB_TLS_KEY): private key does not match the certificate "
                              "in tls.cert_path (env RSTMDB_TLS_CERT)"}));
}

TEST_CASE("encrypted keys, garbage and missing files are errors", "[config][tls]") {
  TlsFiles f;
  LoadResult r = load_tls(
      {{"RSTMDB_TLS_ENABLED", "true"}, {"RSTMDB_TLS_CERT", f.cert}, {"RSTMDB_TLS_KEY", f.encrypted_key}});
  CHECK(any_line_has(r.errors,
                     {"tls.key_path (env RSTMDB_TLS_KEY): cannot load an unencrypted PEM private key"}));

  r = load_tls({{"RSTMDB_TLS_ENABLED", "true"}, {"RSTMDB_TLS_CERT", f.garbage}, {"RSTMDB_TLS_KEY", f.key}});
  CHECK(any_line_has(r.errors, {"tls.cert_path (env RSTMDB_TLS_CERT): cannot load a PEM certificate chain"}));

  r = load_tls({{"RSTMDB_TLS_ENABLED", "true"},
                {"RSTMDB_TLS_CERT", (f.dir.path() / "nope.crt").string()},
                {"RSTMDB_TLS_KEY", f.key}});
  CHECK(any_line_has(r.errors, {"tls.cert_path (env RSTMDB_TLS_CERT): cannot read", "No such file"}));
}

TEST_CASE("a certificate close to expiry warns", "[config][tls]") {
  TlsFiles f;
  const LoadResult r = load_tls(
      {{"RSTMDB_TLS_ENABLED", "true"}, {"RSTMDB_TLS_CERT", f.short_cert}, {"RSTMDB_TLS_KEY", f.other_key}});
  INFO(joined(r.errors));
  REQUIRE(r.ok());
  CHECK(any_line_has(r.warnings, {"tls.cert_path (env RSTMDB_TLS_CERT): certificate", "expire"}));
}

TEST_CASE("mTLS with a CA loads, a bad CA is an error", "[config][tls]") {
  TlsFiles f;
  LoadResult r = load_yaml("tls:\n  enabled: true\n  cert_file: " + f.cert + "\n  key_file: " + f.key +
                           "\n  require_client_cert: true\n  ca_file: " + f.ca + "\n");
  INFO(joined(r.errors));
  REQUIRE(r.ok());
  CHECK(r.warnings.empty());
  CHECK(r.config.tls.client_ca_path == f.ca);
  CHECK(r.config.tls.require_client_cert);

  r = load_yaml("tls:\n  enabled: true\n  cert_file: " + f.cert + "\n  key_file: " + f.key +
                "\n  require_client_cert: true\n  ca_file: " + f.garbage + "\n");
  CHECK(
      any_line_has(r.errors, {"tls.client_ca_path (file:/etc/rstmdb/config.yaml:6:12): cannot load PEM CA"}));
}
