#pragma once
// An asynchronous Redis client for the cache's Redis layer (FEATURES.md CACHE-4, OPS-7;
// docs/REDIS.md). RESP2 over Asio sockets (plain TCP, or TLS for rediss://), replies parsed by
// hiredis's reader; no blocking call anywhere.
//
// Threads and connections: a Client is shared by every worker. Each execution context that
// calls exec() (a worker's io_context, the cache engine's thread pool, a test's io_context) gets
// its own small pool of connections per Redis node, created on first use and living as long as
// that context (an Asio service holds it). Commands are pipelined on those connections; a
// connection's state is touched only through a strand of its context.
//
// Failure model: nothing throws for a Redis problem. A result carries Errc::unavailable while a
// node is unreachable (connect refused or timed out, handshake failed, or inside the reconnect
// backoff that follows: those fail at once without touching the network), Errc::timeout when a
// reply did not come within command_timeout (the connection is then dropped, since a pipelined
// connection cannot skip a reply), Errc::protocol/closed for broken connections. The next exec
// after the backoff reconnects on its own.
//
// Cluster (options.cluster): the slot map comes from CLUSTER SLOTS on a seed or known node,
// commands go to the master owning their key's slot (CRC16 with {hash tags}), MOVED updates the
// map (and triggers a refresh), ASK is followed with ASKING for that one command, at most 5
// redirections per command; a node that fails makes the map stale and is refreshed from the
// others.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "core/secret.h"

namespace yg::redis {

// One RESP2 reply.
struct Reply {
  enum class Type : uint8_t { Nil, String, Status, Error, Integer, Array };
  Type type = Type::Nil;
  std::string str;  // String, Status, Error
  int64_t integer = 0;
  std::vector<Reply> elements;  // Array

  bool is_nil() const noexcept { return type == Type::Nil; }
  bool is_error() const noexcept { return type == Type::Error; }
  bool is_string() const noexcept { return type == Type::String; }
  bool is_integer() const noexcept { return type == Type::Integer; }
  bool is_array() const noexcept { return type == Type::Array; }
  // Status "OK" (SET, SELECT, AUTH).
  bool is_ok() const noexcept { return type == Type::Status && str == "OK"; }
};

enum class Errc : uint8_t {
  ok = 0,
  unavailable,  // cannot connect / in reconnect backoff / no node for the slot
  timeout,      // no reply within command_timeout
  closed,       // connection lost while the command was in flight
  protocol,     // unparseable reply, or a reply larger than max_reply_bytes
  redirects,    // cluster: more than 5 MOVED/ASK for one command
};
std::string_view errc_name(Errc e) noexcept;

struct Result {
  Errc err = Errc::ok;
  Reply reply;         // when ok(); may itself be an error reply (reply.is_error())
  std::string detail;  // what went wrong, for logs; never holds a password
  bool ok() const noexcept { return err == Errc::ok; }
};

// What Command's constructor takes: anything a string_view can be made from.
template <class A>
concept CommandArg = std::is_convertible_v<const A&, std::string_view>;

// A command, encoded in RESP once when built, so it can be resent (cluster redirections) without
// re-encoding. Large arguments are copied once, into the encoding.
class Command {
 public:
  Command() = default;
  // Command{"SET", key, value}: each argument anything convertible to string_view. A variadic
  // constructor rather than an initializer_list one: g++ 12 rejects a braced list of string
  // literals inside a co_await expression ("array used as initializer"), and
  // `co_await client->exec(Command{"GET", key})` is the common call.
  template <CommandArg... A>
  explicit(sizeof...(A) == 1) Command(const A&... args) {
    static_assert(sizeof...(A) > 0);
    body_.reserve(((std::string_view(args).size() + 16) + ...));
    (arg(std::string_view(args)), ...);
  }
  Command& arg(std::string_view a);
  Command& arg(int64_t v);
  // One argument made of several pieces, written back to back (a header and a body).
  Command& arg_concat(std::initializer_list<std::string_view> parts);
  // The argument that is the key, for cluster routing: 1 (the first after the command name) by
  // default; -1 for keyless commands (sent to any node).
  Command& key_index(int i);

  std::size_t argc() const noexcept { return argc_; }
  std::string_view key() const noexcept;  // empty when keyless
  // The RESP bytes: header() ("*<argc>\r\n") followed by body().
  std::string header() const;
  const std::string& body() const noexcept { return body_; }

 private:
  std::string body_;
  std::size_t argc_ = 0;
  int key_index_ = 1;
  std::size_t key_off_ = 0, key_len_ = 0;
  bool key_set_ = false;
};

struct Endpoint {
  std::string host;
  uint16_t port = 6379;
  std::string to_string() const;  // host:port ([v6]:port)
  friend bool operator==(const Endpoint&, const Endpoint&) = default;
};

struct ClientOptions {
  std::vector<Endpoint> nodes;  // standalone: exactly one; cluster: the seed nodes
  bool cluster = false;
  bool tls = false;         // rediss://
  std::string tls_ca_file;  // PEM bundle to verify the server with; empty: the system store
  std::string username;     // ACL user (AUTH user pass); empty: AUTH pass (when a password is set)
  Secret password;
  uint32_t db = 0;  // SELECT after connecting (standalone only; a cluster has db 0 only)
  std::chrono::milliseconds connect_timeout{1000};  // TCP + TLS + AUTH/SELECT
  std::chrono::milliseconds command_timeout{250};
  std::size_t pool_size = 2;  // connections per (execution context, node)
  std::chrono::milliseconds backoff_initial{100}, backoff_max{5000};  // doubled, with jitter
  std::size_t max_reply_bytes = std::size_t{512} << 20;
};

struct ClientStats {
  uint64_t connects = 0, connect_failures = 0, disconnects = 0, timeouts = 0;
  uint64_t fast_failures = 0;  // refused at once inside a backoff window
  uint64_t moved = 0, ask = 0, topology_refreshes = 0;
  uint64_t connections_open = 0;  // gauge
};

class Client {
 public:
  // Checks the options (nodes non-empty, one node unless cluster) and throws
  // std::invalid_argument when they are wrong. Does not connect.
  static std::shared_ptr<Client> create(ClientOptions o);
  virtual ~Client() = default;

  // Runs `cmd` on a connection of the calling coroutine's execution context and completes there.
  // Cluster: routed by cmd.key(); keyless commands go to any master.
  virtual boost::asio::awaitable<Result> exec(Command cmd) = 0;
  // Several commands pipelined (one write per node), results in the order given. Cluster: each
  // routed by its own key.
  virtual boost::asio::awaitable<std::vector<Result>> exec_batch(std::vector<Command> cmds) = 0;
  // The masters (cluster: from the slot map, refreshed when unknown; standalone: the one node),
  // for commands that must visit every shard (SCAN).
  virtual boost::asio::awaitable<std::vector<Endpoint>> masters() = 0;
  // One command on exactly that node (no redirection following).
  virtual boost::asio::awaitable<Result> exec_at(Endpoint node, Command cmd) = 0;

  virtual ClientStats stats() const = 0;
  virtual const ClientOptions& options() const noexcept = 0;
};

// A connection that stays SUBSCRIBEd to `channels`: connects on `ex`, resubscribes after any
// loss (with the client options' backoff), and calls on_message(channel, payload) on `ex` for
// each message. In a cluster it subscribes on any reachable node (PUBLISH reaches every node).
// stop() closes it; no callback runs after stop() returns on `ex`.
class Subscriber {
 public:
  using Handler = std::function<void(const std::string& channel, const std::string& payload)>;
  static std::shared_ptr<Subscriber> start(boost::asio::any_io_executor ex, ClientOptions o,
                                           std::vector<std::string> channels, Handler on_message);
  virtual ~Subscriber() = default;
  virtual void stop() = 0;
  virtual bool subscribed() const noexcept = 0;  // the subscription is live right now
  virtual uint64_t reconnects() const noexcept = 0;
};

}  // namespace yg::redis
