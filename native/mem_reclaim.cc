/*
 * mem_reclaim: give memory back to the system while the terminal waits at idle (boot/mem-reclaim.ts,
 * issue 14 goal 1).
 *
 * Why native: node 20 offers JavaScript no way to ask V8 for a memory-reducing collection
 * (`--expose-gc`'s gc() runs a plain full collection and V8 keeps the pages it freed for the next
 * allocations), nor glibc to return the free memory at the top and in the middle of its arenas.
 * Measured on the simulator board after 200 sales and a settlement: gc() 79.8 MB RSS,
 * LowMemoryNotification 69.7 MB, then malloc_trim 67.6 MB.
 *
 * JavaScript API:
 *   reclaim([files]) -> { trimmed: bool, fileMappings: number }
 *                                    Isolate::LowMemoryNotification() (full collections until
 *                                    nothing more is freed, young generation shrunk, pooled pages
 *                                    released), then malloc_trim(0) where the C library is glibc.
 *                                    Then, for each absolute path in `files`, the pages of this
 *                                    process's shared read-only mappings of that file are let go
 *                                    (MADV_DONTNEED; fileMappings counts the mappings). Blocks
 *                                    JavaScript for the collections: call it only at idle.
 *
 * Why the files: LMDB reads its file through a shared read-only map, and each write transaction
 * reads the B-tree path it copies (root, branches, the last leaf) through it; copy-on-write puts
 * the next copy on another page, so every transaction of a day leaves a few more of the file's
 * pages resident in the process (+0.6 MB after 1,000 sales and two settlements: bench:memory with
 * BENCH_SMAPS=1). Those pages are clean page cache, and superseded B-tree pages LMDB will only
 * write again (through write(), not the map). For a shared file mapping MADV_DONTNEED only drops
 * the process's page table entries: a later read faults the page in again from the page cache
 * or the file, with the file's current contents (madvise(2)); nothing is lost or changed.
 * Mappings that are private or writable are never touched.
 *
 * This is V8's C++ API, not N-API: it is built against the headers of the node that runs it
 * (npm install's node-gyp, or the image's pinned node for the target: scripts/image/build-image.ts).
 */
#include <node.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sys/mman.h>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

namespace {

/** Longest /proc/self/maps line read whole (a path is at most PATH_MAX, 4096). */
constexpr size_t MAPS_LINE_BYTES_MAX = 4096 + 256;
/** Most files one call is given (the journal's data file; a bound, not a need). */
constexpr uint32_t RELEASE_FILES_MAX = 8;

/** Drops the pages of this process's shared read-only ("r--s") mappings of `files`; returns how many mappings. */
int ReleaseFileMappings(const std::vector<std::string>& files) {
  if (files.empty()) return 0;
  FILE* maps = fopen("/proc/self/maps", "re");
  if (maps == nullptr) return 0;
  int released = 0;
  std::vector<char> line(MAPS_LINE_BYTES_MAX);
  while (fgets(line.data(), static_cast<int>(line.size()), maps) != nullptr) {
    unsigned long start = 0, end = 0;
    char perms[8] = {0};
    int pathAt = 0;
    if (sscanf(line.data(), "%lx-%lx %7s %*s %*s %*s %n", &start, &end, perms, &pathAt) < 3 || pathAt == 0) continue;
    if (strcmp(perms, "r--s") != 0 || end <= start) continue;
    std::string path(line.data() + pathAt);
    while (!path.empty() && (path.back() == '\n' || path.back() == ' ')) path.pop_back();
    for (const std::string& file : files) {
      if (path != file) continue;
      if (madvise(reinterpret_cast<void*>(start), end - start, MADV_DONTNEED) == 0) released++;
      break;
    }
  }
  fclose(maps);
  return released;
}

void Reclaim(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  std::vector<std::string> files;
  if (args.Length() > 0 && args[0]->IsArray()) {
    v8::Local<v8::Array> list = args[0].As<v8::Array>();
    for (uint32_t i = 0; i < list->Length() && i < RELEASE_FILES_MAX; i++) {
      v8::Local<v8::Value> item;
      if (!list->Get(context, i).ToLocal(&item) || !item->IsString()) continue;
      v8::String::Utf8Value utf8(isolate, item);
      if (*utf8 != nullptr && (*utf8)[0] == '/') files.emplace_back(*utf8);
    }
  }
  isolate->LowMemoryNotification();
  bool trimmed = false;
#if defined(__GLIBC__)
  trimmed = malloc_trim(0) == 1;
#endif
  const int fileMappings = ReleaseFileMappings(files);
  v8::Local<v8::Object> result = v8::Object::New(isolate);
  result->Set(context, v8::String::NewFromUtf8Literal(isolate, "trimmed"), v8::Boolean::New(isolate, trimmed)).Check();
  result->Set(context, v8::String::NewFromUtf8Literal(isolate, "fileMappings"), v8::Integer::New(isolate, fileMappings)).Check();
  args.GetReturnValue().Set(result);
}

}  // namespace

NODE_MODULE_INIT() {
  NODE_SET_METHOD(exports, "reclaim", Reclaim);
}
