#include "output/output_writer.h"

#include <spdlog/spdlog.h>

#include "base/file.h"
#include "base/hdf5.h"

namespace embed {
namespace {

using Clock = std::chrono::steady_clock;

// Bound the memory of finished proteins waiting for the disk: their data, and their number
// (a protein costs about a kilobyte of bookkeeping beyond its data).
constexpr size_t kMaxQueuedBytes = size_t{512} << 20;
constexpr size_t kMaxQueuedProteins = 2048;
// How often the thread looks at the clock and for a stop request when idle.
constexpr auto kPollInterval = std::chrono::milliseconds(100);

}  // namespace

OutputWriter::OutputWriter(OutputParts& parts, OutputGroups groups, StorageOptions storage,
                           RunAttributes attributes,
                           std::shared_future<std::string> checkpoint_sha256, FlushPolicy policy)
    : parts_(parts),
      groups_(groups),
      storage_(storage),
      attributes_(std::move(attributes)),
      checkpoint_sha256_(std::move(checkpoint_sha256)),
      policy_(policy),
      thread_([this] { run(); }) {}

OutputWriter::~OutputWriter() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        finishing_ = true;
        queue_.clear();
        failure_ = failure_ ? failure_ : std::make_exception_ptr(std::runtime_error("abandoned"));
    }
    changed_.notify_all();
    if (thread_.joinable()) {
        thread_.join();
    }
    if (part_) {
        part_.reset();
        std::error_code ignored;
        std::filesystem::remove(part_path_, ignored);
    }
}

void OutputWriter::write(ProteinEmbedding protein) {
    const size_t bytes = protein.bytes();
    push(std::move(protein), bytes);
}

void OutputWriter::write_alias(AliasEntry alias) {
    push(std::move(alias), 0);
}

void OutputWriter::push(Item item, size_t bytes) {
    std::unique_lock<std::mutex> lock(mutex_);
    changed_.wait(lock, [&] {
        return failure_ || queue_.empty() ||
               (queued_bytes_ + bytes <= kMaxQueuedBytes && queue_.size() < kMaxQueuedProteins);
    });
    rethrow_failure();
    queue_.emplace_back(std::move(item), bytes);
    queued_bytes_ += bytes;
    changed_.notify_all();
}

void OutputWriter::finish() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        finishing_ = true;
    }
    changed_.notify_all();
    thread_.join();
    std::lock_guard<std::mutex> lock(mutex_);
    rethrow_failure();
}

size_t OutputWriter::committed() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return committed_;
}

void OutputWriter::rethrow_failure() {
    if (failure_) {
        std::rethrow_exception(failure_);
    }
}

void OutputWriter::run() {
    try {
        while (true) {
            std::unique_lock<std::mutex> lock(mutex_);
            changed_.wait_for(lock, kPollInterval, [&] { return !queue_.empty() || finishing_; });
            if (failure_) {
                return;
            }
            if (!queue_.empty()) {
                auto [item, bytes] = std::move(queue_.front());
                queue_.pop_front();
                lock.unlock();
                store(item);
                lock.lock();
                queued_bytes_ -= bytes;
                changed_.notify_all();
                lock.unlock();
            } else if (finishing_) {
                lock.unlock();
                commit_part();
                return;
            } else {
                lock.unlock();
            }
            // A stop commits the part in progress once, so that a second signal, which ends
            // the process at once, loses nothing written; the proteins of the batch then in
            // flight make one more part, committed by finish().
            const bool stop_seen = !saved_at_stop_ && stop_requested() != 0;
            saved_at_stop_ = saved_at_stop_ || stop_seen;
            const bool due = part_ && (part_->proteins() >= policy_.proteins ||
                                       Clock::now() - part_started_ >=
                                           std::chrono::duration<double>(policy_.seconds) ||
                                       stop_seen);
            if (due) {
                commit_part();
            }
        }
    } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        failure_ = std::current_exception();
        changed_.notify_all();
    }
}

void OutputWriter::store(const Item& item) {
    const std::lock_guard<std::mutex> hdf5(h5::calls_mutex());
    if (!part_) {
        part_path_ = parts_.next_temporary();
        part_ = std::make_unique<Hdf5Writer>(part_path_, groups_, storage_);
        part_started_ = Clock::now();
    }
    if (const auto* protein = std::get_if<ProteinEmbedding>(&item)) {
        part_->write(*protein);
    } else {
        part_->write_alias(std::get<AliasEntry>(item));
    }
}

void OutputWriter::commit_part() {
    if (!part_) {
        return;
    }
    const size_t proteins = part_->proteins();
    if (attributes_.checkpoint_sha256.empty()) {
        attributes_.checkpoint_sha256 = checkpoint_sha256_.get();
    }
    {
        const std::lock_guard<std::mutex> hdf5(h5::calls_mutex());
        part_->finish(attributes_);
        part_.reset();
    }
    parts_.commit(part_path_);
    std::lock_guard<std::mutex> lock(mutex_);
    committed_ += proteins;
    spdlog::debug("committed {} proteins to {}", proteins, parts_.directory().string());
}

}  // namespace embed
