#include "cache/tiered.h"

#include <thread>

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>

#include "cache/memory_backend.h"
#include "core/log.h"

namespace yg::cache {
namespace asio = boost::asio;

bool read_file_body(const FileBody& f, std::string& out) {
  out.resize(f.size());
  uint64_t done = 0;
  while (done < f.size()) {
    const ssize_t n =
        ::pread(f.fd(), out.data() + done, f.size() - done, static_cast<off_t>(f.offset() + done));
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      out.clear();
      return false;
    }
    done += static_cast<uint64_t>(n);
  }
  return true;
}

TieredCache::TieredCache(std::vector<BackendPtr> layers, std::size_t write_queue_limit)
    : layers_(std::move(layers)), limit_(write_queue_limit), bg_(2) {
  if (!layers_.empty()) {
    memory_first_ = dynamic_cast<MemoryBackend*>(layers_.front().get());
  }
}

TieredCache::~TieredCache() {
  // Let the queued writes finish (bounded), then stop the pool: a layer's idle connections (the
  // Redis layer's pooled reads) are work that would keep join() waiting forever.
  const auto until = SteadyClock::now() + std::chrono::seconds(5);
  while (pending_.load() != 0 && SteadyClock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  bg_.stop();
  bg_.join();
}

asio::awaitable<std::optional<Lookup>> TieredCache::get(const std::string& key, SysTime now) {
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    std::optional<Hit> hit;
    if (i == 0 && memory_first_ != nullptr) {
      if (auto e = memory_first_->get_now(key, now)) {
        co_return Lookup{Hit{std::move(e), nullptr}, 0};
      }
      continue;
    }
    try {
      hit = co_await layers_[i]->get(key, now);
    } catch (const std::exception& e) {
      ++errors_;
      log::get("cache")->warn("{} layer lookup failed: {}", layers_[i]->name(), e.what());
    }
    if (hit) {
      if (i > 0) {
        write_behind(0, i, key, hit->entry, hit->file);
      }
      co_return Lookup{std::move(*hit), i};
    }
  }
  co_return std::nullopt;
}

asio::awaitable<bool> TieredCache::put(std::string key, EntryPtr e, Write how) {
  if (layers_.empty()) {
    co_return false;
  }
  if (how == Write::Through) {
    bool first = false;
    for (std::size_t i = 0; i < layers_.size(); ++i) {
      bool ok = false;
      try {
        ok = co_await layers_[i]->put(key, e);
      } catch (const std::exception& ex) {
        ++errors_;
        log::get("cache")->warn("{} layer store failed: {}", layers_[i]->name(), ex.what());
      }
      if (i == 0) {
        first = ok;
      }
    }
    co_return first;
  }
  bool stored = false;
  if (memory_first_ != nullptr) {
    stored = memory_first_->put_now(key, e);
  } else {
    try {
      stored = co_await layers_[0]->put(key, e);
    } catch (const std::exception& ex) {
      ++errors_;
      log::get("cache")->warn("{} layer store failed: {}", layers_[0]->name(), ex.what());
    }
  }
  if (layers_.size() > 1) {
    write_behind(1, layers_.size(), std::move(key), std::move(e), nullptr);
  }
  co_return stored;
}

void TieredCache::write_behind(std::size_t from, std::size_t to, std::string key, EntryPtr e,
                               std::shared_ptr<const FileBody> file) {
  if (pending_.fetch_add(1) >= limit_) {
    pending_.fetch_sub(1);
    ++dropped_;
    return;
  }
  if (file) {
    ++promotions_;
  }
  asio::co_spawn(
      bg_, write_task(from, to, std::move(key), std::move(e), std::move(file), generation_.load()),
      [this](std::exception_ptr) { pending_.fetch_sub(1); });
}

// Named coroutines with by-value parameters rather than capturing lambdas: with GCC 12 and
// Boost 1.81 a lambda coroutine's captures handed to co_spawn can be freed from the wrong frame
// (seen as "free(): invalid size" in the disk layer's tasks).
asio::awaitable<void> TieredCache::write_task(std::size_t from, std::size_t to, std::string key,
                                              EntryPtr e, std::shared_ptr<const FileBody> file,
                                              uint64_t generation) {
  if (file) {
    if (memory_first_ != nullptr && memory_first_->contains(key)) {
      co_return;  // a newer fill got there first: never replace it with the older copy
    }
    // A promotion from a file-backed layer: the faster layers keep bodies in memory.
    auto loaded = std::make_shared<Entry>();
    loaded->meta = e->meta;
    if (!read_file_body(*file, loaded->body)) {
      ++errors_;
      co_return;
    }
    e = std::move(loaded);
  }
  for (std::size_t i = from; i < to; ++i) {
    if (generation_.load() != generation) {
      co_return;  // purged (or removed) since this write was queued
    }
    try {
      co_await layers_[i]->put(key, e);
    } catch (const std::exception& ex) {
      ++errors_;
      log::get("cache")->warn("{} layer store failed: {}", layers_[i]->name(), ex.what());
    }
  }
}

asio::awaitable<EntryPtr> TieredCache::load_task(std::shared_ptr<const FileBody> file,
                                                 EntryPtr meta) {
  auto e = std::make_shared<Entry>();
  e->meta = meta->meta;
  if (!read_file_body(*file, e->body)) {
    co_return nullptr;
  }
  co_return e;
}

asio::awaitable<EntryPtr> TieredCache::load_body(const Hit& h) {
  if (!h.file) {
    co_return h.entry;
  }
  co_return co_await asio::co_spawn(bg_, load_task(h.file, h.entry), asio::use_awaitable);
}

asio::awaitable<void> TieredCache::remove(std::string key) {
  ++generation_;
  for (const auto& l : layers_) {
    try {
      co_await l->remove(key);
    } catch (const std::exception& ex) {
      ++errors_;
      log::get("cache")->warn("{} layer removal failed: {}", l->name(), ex.what());
    }
  }
}

asio::awaitable<LayerCounts> TieredCache::remove_prefix(std::string prefix, bool local_only) {
  ++generation_;
  LayerCounts out;
  for (const auto& l : layers_) {
    if (local_only && l->shared()) {
      continue;
    }
    std::size_t n = 0;
    try {
      n = co_await l->remove_prefix(prefix);
    } catch (const std::exception& ex) {
      ++errors_;
      log::get("cache")->warn("{} layer purge failed: {}", l->name(), ex.what());
    }
    out.emplace_back(std::string(l->name()), n);
  }
  co_return out;
}

}  // namespace yg::cache
