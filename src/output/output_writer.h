// Stage 5 on its own thread: proteins go into parts (output_parts.h) while the model computes
// the next batch, so the model never waits on the disk. A part is committed every N proteins
// or T seconds, and at once when the run is asked to stop (SIGTERM, SIGINT).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <exception>
#include <future>
#include <memory>
#include <mutex>
#include <thread>
#include <variant>

#include "output/hdf5_writer.h"
#include "output/output_parts.h"

namespace embed {

struct FlushPolicy {
    size_t proteins = 10000;  ///< commit a part after this many proteins
    double seconds = 120;     ///< or this long after its first protein
};

class OutputWriter {
public:
    /// attributes.checkpoint_sha256 comes from `checkpoint_sha256` when the first part is
    /// committed: hashing a checkpoint of gigabytes takes seconds, and the model need not wait.
    OutputWriter(OutputParts& parts, OutputGroups groups, StorageOptions storage,
                 RunAttributes attributes, std::shared_future<std::string> checkpoint_sha256,
                 FlushPolicy policy);
    /// Stops the thread; a part not yet committed is abandoned (its temporary is removed).
    ~OutputWriter();
    OutputWriter(const OutputWriter&) = delete;
    OutputWriter& operator=(const OutputWriter&) = delete;

    /// Queues a protein; blocks while the queue holds more than a bounded amount of data.
    /// Rethrows an error of the writer thread.
    void write(ProteinEmbedding protein);
    /// Queues an alias; its protein must have been queued before (or committed earlier).
    void write_alias(AliasEntry alias);
    /// Writes everything queued, commits the last part and stops the thread; rethrows.
    void finish();
    /// Proteins in committed parts, so far.
    size_t committed() const;

private:
    using Item = std::variant<ProteinEmbedding, AliasEntry>;
    void push(Item item, size_t bytes);
    void run();
    void store(const Item& item);
    void commit_part();
    void rethrow_failure();

    OutputParts& parts_;
    OutputGroups groups_;
    StorageOptions storage_;
    RunAttributes attributes_;
    std::shared_future<std::string> checkpoint_sha256_;
    FlushPolicy policy_;

    mutable std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<std::pair<Item, size_t>> queue_;
    size_t queued_bytes_ = 0;
    bool finishing_ = false;
    std::exception_ptr failure_;
    size_t committed_ = 0;

    // Owned by the writer thread.
    std::unique_ptr<Hdf5Writer> part_;
    std::filesystem::path part_path_;
    std::chrono::steady_clock::time_point part_started_;
    bool saved_at_stop_ = false;  // the part in progress when a stop was requested is committed

    std::thread thread_;
};

}  // namespace embed
