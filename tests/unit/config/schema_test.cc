// The key list of `--config-schema` (schema.h): complete, typed, with the defaults of
// config.h, and every key on it is one the loader accepts.

#include "config/schema.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "config/config.h"
#include "config_test_util.h"

namespace yg::config {
namespace {

const std::string kExamples = YG_CONFIG_EXAMPLES_DIR;

std::map<std::string, SchemaKey> by_path(const Schema& s) {
  std::map<std::string, SchemaKey> out;
  for (const auto& k : s.keys) {
    EXPECT_TRUE(out.emplace(k.path, k).second) << "listed twice: " << k.path;
  }
  return out;
}

bool is_section(const SchemaKey& k) {
  return k.type == "mapping" || k.type == "list of mappings";
}

TEST(ConfigSchema, HasNoHoles) {
  const Schema s = config_schema();
  EXPECT_TRUE(s.problems.empty()) << ::testing::PrintToString(s.problems);
}

// A floor, so that a walk that silently stops early (a section no longer reached) fails.
TEST(ConfigSchema, ListsEveryKey) {
  const Schema s = config_schema();
  size_t leaves = 0;
  for (const auto& k : s.keys) {
    leaves += is_section(k) ? 0 : 1;
  }
  EXPECT_GE(s.keys.size(), 300u);
  EXPECT_GE(leaves, 250u);
}

// Keys only reached on a branch: each needs a built-in document (schema.cc) or the synthesis
// of absent sections.
TEST(ConfigSchema, ReachesConditionalBranches) {
  const auto keys = by_path(config_schema());
  for (const char* p : {
           "server.tls.ciphersuites",
           "server.rate_limit.per_ip.burst",
           "buckets[].s3.bucket",               // legacy single backend
           "buckets[].s3.replicas[].priority",  // replicas
           "buckets[].s3.circuit_breaker.timeout_seconds",
           "buckets[].auth.opa.cache.negative_ttl_seconds",  // auth.opa: no `authorization`
           "buckets[].auth.openfga.parent_tuples",
           "buckets[].authorization.openfga.cache.max_entries",
           "buckets[].authorization.opa_input_headers",
           "buckets[].auth.jwt.token_sources[].prefix",  // only with token_sources given
           "buckets[].auth.jwt.claims_verification[].value",
           "buckets[].auth.jwt.claims[].name",  // `name` instead of `claim`
           "jwt.claims_verification[].name",
           "jwt.claims[].name",
           "jwt.admin_claims[].operator",
           "jwt.keys[].path",
           "cache.redis.fill_lock_ms",
           "cache.disk.sendfile.threshold_bytes",
           "audit_log.syslog.facility",
           "observability.request_logging.status_codes",
           "observability.slow_query.log_level",
           "shutdown.timeout_seconds",
       }) {
    EXPECT_EQ(keys.count(p), 1u) << "missing: " << p;
  }
}

TEST(ConfigSchema, TypesRangesAndDefaultsComeFromTheCode) {
  const auto keys = by_path(config_schema());
  const Config defaults;
  const SchemaKey& port = keys.at("server.port");
  EXPECT_EQ(port.type, "uint");
  EXPECT_EQ(port.default_json, std::to_string(defaults.server.port));
  EXPECT_EQ(port.min, 1u);
  EXPECT_EQ(port.max, 65535u);

  const SchemaKey& prio = keys.at("buckets[].s3.replicas[].priority");
  EXPECT_TRUE(prio.required);
  EXPECT_EQ(prio.max, 1000u);

  EXPECT_EQ(keys.at("buckets[].s3.region").default_json, "\"" + S3Replica{}.region + "\"");
  EXPECT_EQ(keys.at("server.tls.ciphersuites").default_json,
            "\"" + std::string(kDefaultTlsCiphersuites) + "\"");
  EXPECT_EQ(keys.at("cache.cache_layers").default_json, "[\"memory\"]");
  EXPECT_EQ(keys.at("cache.redis.fill_lock_ms").default_json,
            std::to_string(RedisCacheConfig{}.fill_lock_ms));
  EXPECT_EQ(keys.at("observability.tracing.sampling_ratio").type, "number");

  const SchemaKey& fail = keys.at("buckets[].authorization.opa_fail_mode");
  EXPECT_EQ(fail.type, "enum");
  EXPECT_EQ(fail.default_json, "\"closed\"");
  EXPECT_EQ(fail.values, (std::vector<std::string>{"closed", "open"}));

  // Secrets never show a default; inherited settings have none.
  EXPECT_EQ(keys.at("buckets[].s3.secret_key").type, "secret");
  EXPECT_EQ(keys.at("buckets[].s3.secret_key").default_json, "null");
  EXPECT_EQ(keys.at("buckets[].cache.ttl_seconds").default_json, "null");
  EXPECT_EQ(keys.at("buckets[].authorization.type").default_json, "null");

  EXPECT_EQ(keys.at("cache.warming").type, "refused");
  EXPECT_NE(keys.at("cache.warming").reason.find("not supported"), std::string::npos);
  EXPECT_EQ(keys.at("buckets").type, "list of mappings");
  EXPECT_TRUE(keys.at("buckets").required);
}

TEST(ConfigSchema, JsonLine) {
  SchemaKey k{"a[].b", "uint", true, "5", 1, 10, {}, ""};
  EXPECT_EQ(to_json(k),
            R"({"path":"a[].b","type":"uint","required":true,"default":5,"min":1,"max":10})");
  SchemaKey e{"x", "enum", false, "\"a\\\"b\"", std::nullopt, std::nullopt, {"a\"b", "c"}, ""};
  EXPECT_EQ(
      to_json(e),
      R"({"path":"x","type":"enum","required":false,"default":"a\"b","values":["a\"b","c"]})");
}

// The reverse direction: a document holding every listed key (values are placeholders) loads
// without a single "unknown key", so the list names no key the loader would refuse.
TEST(ConfigSchema, EveryListedKeyIsKnownToTheLoader) {
  YAML::Node root(YAML::NodeType::Map);
  size_t placed = 0;
  for (const auto& k : config_schema().keys) {
    if (is_section(k)) {
      continue;
    }
    // reset() rebinds; operator= would make the two nodes one (yaml-cpp).
    YAML::Node node;
    node.reset(root);
    std::string rest = k.path;
    while (true) {
      const size_t dot = rest.find('.');
      std::string seg = rest.substr(0, dot);
      const bool item = seg.ends_with("[]");
      if (item) {
        seg.resize(seg.size() - 2);
      }
      if (dot == std::string::npos) {
        node[seg] = k.type == "list" ? YAML::Load("[x]") : YAML::Node("1");
        ++placed;
        break;
      }
      YAML::Node child = node[seg];
      if (item) {
        if (!child.IsSequence()) {
          node[seg] = YAML::Node(YAML::NodeType::Sequence);
          node[seg].push_back(YAML::Node(YAML::NodeType::Map));
        }
        node.reset(node[seg][0]);
      } else {
        if (!child.IsMap()) {
          node[seg] = YAML::Node(YAML::NodeType::Map);
        }
        node.reset(node[seg]);
      }
      rest = rest.substr(dot + 1);
    }
  }
  ASSERT_GE(placed, 250u);
  YAML::Emitter out;
  out << root;
  const auto r = test::load_ungated(out.c_str());
  size_t errors = 0;
  for (const auto& e : r.errors) {
    // (The refused key `path` has a message of its own that starts the same way.)
    EXPECT_FALSE(e.what == "unknown key" || e.what.starts_with("unknown key (did you"))
        << e.to_string();
    ++errors;
  }
  EXPECT_GT(errors, 0u);  // the placeholders do break rules: the document was really checked
}

// Every key the shipped example configurations use is on the list.
void expect_listed(const YAML::Node& n, const std::string& path,
                   const std::map<std::string, SchemaKey>& keys, const std::string& file) {
  if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      const std::string p = (path.empty() ? "" : path + ".") + it->first.as<std::string>();
      auto k = keys.find(p);
      if (k == keys.end()) {
        ADD_FAILURE() << file << ": " << p << " is not listed by config_schema()";
        continue;
      }
      if (is_section(k->second)) {
        expect_listed(it->second, p, keys, file);
      }
    }
  } else if (n.IsSequence()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      expect_listed(*it, path + "[]", keys, file);
    }
  }
}

TEST(ConfigSchema, ListsEveryKeyOfTheExamples) {
  const auto keys = by_path(config_schema());
  size_t files = 0;
  for (const auto& dir : {kExamples, kExamples + "/.."}) {
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      if (entry.path().extension() == ".yaml") {
        expect_listed(YAML::LoadFile(entry.path().string()), "", keys, entry.path().string());
        ++files;
      }
    }
  }
  EXPECT_GE(files, 4u);
}

}  // namespace
}  // namespace yg::config
