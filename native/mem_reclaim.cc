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
 *   reclaim() -> { trimmed: bool }   Isolate::LowMemoryNotification() (full collections until
 *                                    nothing more is freed, young generation shrunk, pooled pages
 *                                    released), then malloc_trim(0) where the C library is glibc.
 *                                    Blocks JavaScript for the collections: call it only at idle.
 *
 * This is V8's C++ API, not N-API: it is built against the headers of the node that runs it
 * (npm install's node-gyp, or the image's pinned node for the target: scripts/image/build-image.ts).
 */
#include <node.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

void Reclaim(const v8::FunctionCallbackInfo<v8::Value>& args) {
  v8::Isolate* isolate = args.GetIsolate();
  isolate->LowMemoryNotification();
  bool trimmed = false;
#if defined(__GLIBC__)
  trimmed = malloc_trim(0) == 1;
#endif
  v8::Local<v8::Context> context = isolate->GetCurrentContext();
  v8::Local<v8::Object> result = v8::Object::New(isolate);
  result->Set(context, v8::String::NewFromUtf8Literal(isolate, "trimmed"), v8::Boolean::New(isolate, trimmed)).Check();
  args.GetReturnValue().Set(result);
}

}  // namespace

NODE_MODULE_INIT() {
  NODE_SET_METHOD(exports, "reclaim", Reclaim);
}
