;; Hand-written Wasmind actor component (no toolchain, no WASI): the floor of `bench:counter`.
;;
;; handle-message: counts messages of type `bench.count.Tick`; the first tick of a round gives the
;; count (the digits after `{"count":` at the start of its payload); at that count it broadcasts
;; `bench.count.Done` with the tick's payload (so `{"count": N, ...}`) and starts over. It trusts
;; its narrow interest (own scope only) instead of checking the scope.
;;
;; Imports only `wasmind:actor/messaging@0.1.0`; exports `wasmind:actor/actor@0.1.0`.
;; Rebuild with ./build.sh (wasm-tools parse + validate), and commit actor.wasm with this file.
;; Layout: as actors/examples/wat_echo/actor.wat ($Libc, $Main, $Shim).
(component
  ;; --- import: wasmind:actor/messaging@0.1.0 ---------------------------------------------------
  (type $messaging-type
    (instance
      (type $bytes (list u8))
      (type $broadcast-type (func (param "message-type" string) (param "payload" $bytes)))
      (export "broadcast" (func (type $broadcast-type)))
    )
  )
  (import "wasmind:actor/messaging@0.1.0" (instance $messaging (type $messaging-type)))

  ;; --- memory and allocator ------------------------------------------------------------------
  (core module $Libc
    (memory (export "memory") 1)
    (global $heap (export "heap") (mut i32) (i32.const 1024))

    ;; cabi_realloc: bump allocation; memory is reclaimed by resetting `heap` after each call.
    (func (export "realloc") (param $old i32) (param $old_size i32) (param $align i32) (param $new_size i32)
      (result i32)
      (local $ptr i32) (local $end i32)
      ;; ptr = align_up(heap, align)
      (local.set $ptr
        (i32.and
          (i32.sub (i32.add (global.get $heap) (local.get $align)) (i32.const 1))
          (i32.sub (i32.const 0) (local.get $align))))
      (local.set $end (i32.add (local.get $ptr) (local.get $new_size)))
      ;; grow the memory until `end` fits
      (block $fits
        (loop $grow
          (br_if $fits (i32.le_u (local.get $end) (i32.shl (memory.size) (i32.const 16))))
          (if (i32.eq (memory.grow (i32.const 1)) (i32.const -1)) (then unreachable))
          (br $grow)))
      ;; a reallocation keeps the old contents
      (if (local.get $old)
        (then
          (memory.copy (local.get $ptr) (local.get $old)
            (select (local.get $old_size) (local.get $new_size)
              (i32.lt_u (local.get $old_size) (local.get $new_size))))))
      (global.set $heap (local.get $end))
      (local.get $ptr))
  )
  (core instance $libc (instantiate $Libc))
  (alias core export $libc "memory" (core memory $memory))
  (alias core export $libc "realloc" (core func $realloc))

  ;; --- the exported resource and the functions the core code calls -----------------------------
  (type $actor (resource (rep i32)))
  (core func $actor-new (canon resource.new $actor))

  (alias export $messaging "broadcast" (func $broadcast))
  (core func $broadcast-lowered (canon lower (func $broadcast) (memory $memory) string-encoding=utf8))

  (core module $Main
    (import "libc" "memory" (memory 1))
    (import "libc" "heap" (global $heap (mut i32)))
    (import "host" "broadcast" (func $broadcast (param i32 i32 i32 i32)))
    (import "host" "actor-new" (func $actor-new (param i32) (result i32)))

    (global $instances (mut i32) (i32.const 0))
    (global $seen (mut i32) (i32.const 0))
    (global $target (mut i32) (i32.const 0))

    ;; strings live below the heap start (1024)
    (data (i32.const 16) "bench.count.Tick")   ;; 16 bytes
    (data (i32.const 48) "bench.count.Done")   ;; 16 bytes

    ;; constructor(scope: string, config: string) -> own<actor>
    (func (export "constructor") (param $scope i32) (param $scope_len i32) (param $config i32) (param $config_len i32)
      (result i32)
      (global.set $instances (i32.add (global.get $instances) (i32.const 1)))
      (global.set $heap (i32.const 1024))
      (call $actor-new (global.get $instances)))

    ;; handle-message(self: borrow<actor>, message: message-envelope); the record is flattened to
    ;; (id, message-type, from-actor-id, from-scope, payload) as (pointer, length) pairs.
    (func (export "handle-message")
      (param $self i32)
      (param $id i32) (param $id_len i32)
      (param $type i32) (param $type_len i32)
      (param $from_actor i32) (param $from_actor_len i32)
      (param $from_scope i32) (param $from_scope_len i32)
      (param $payload i32) (param $payload_len i32)
      (if (call $is-tick (local.get $type) (local.get $type_len))
        (then
          (if (i32.eqz (global.get $target))
            (then (global.set $target (call $count-of (local.get $payload) (local.get $payload_len)))))
          (global.set $seen (i32.add (global.get $seen) (i32.const 1)))
          (if (i32.eq (global.get $seen) (global.get $target))
            (then
              (call $broadcast (i32.const 48) (i32.const 16) (local.get $payload) (local.get $payload_len))
              (global.set $seen (i32.const 0))
              (global.set $target (i32.const 0))))))
      (global.set $heap (i32.const 1024)))

    ;; destructor(self: borrow<actor>)
    (func (export "destructor") (param $self i32))

    ;; whether memory[ptr .. ptr+len] == "bench.count.Tick"
    (func $is-tick (param $ptr i32) (param $len i32) (result i32)
      (local $i i32)
      (if (i32.ne (local.get $len) (i32.const 16)) (then (return (i32.const 0))))
      (block $differs
        (loop $next
          (br_if $differs
            (i32.ne (i32.load8_u (i32.add (local.get $ptr) (local.get $i)))
                    (i32.load8_u (i32.add (i32.const 16) (local.get $i)))))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $next (i32.lt_u (local.get $i) (i32.const 16)))
          (return (i32.const 1))))
      (i32.const 0))

    ;; the decimal number at payload[9..] (after `{"count":`), 0 when there is none
    (func $count-of (param $ptr i32) (param $len i32) (result i32)
      (local $i i32) (local $digit i32) (local $value i32)
      (local.set $i (i32.const 9))
      (block $end
        (loop $next
          (br_if $end (i32.ge_u (local.get $i) (local.get $len)))
          (local.set $digit
            (i32.sub (i32.load8_u (i32.add (local.get $ptr) (local.get $i))) (i32.const 48)))
          (br_if $end (i32.gt_u (local.get $digit) (i32.const 9)))
          (local.set $value (i32.add (i32.mul (local.get $value) (i32.const 10)) (local.get $digit)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $next)))
      (local.get $value))
  )
  (core instance $host
    (export "broadcast" (func $broadcast-lowered))
    (export "actor-new" (func $actor-new)))
  (core instance $main (instantiate $Main (with "libc" (instance $libc)) (with "host" (instance $host))))

  ;; --- lifting ---------------------------------------------------------------------------------
  (type $scope string)
  (type $bytes (list u8))
  (type $envelope
    (record (field "id" string) (field "message-type" string) (field "from-actor-id" string)
            (field "from-scope" $scope) (field "payload" $bytes)))
  (type $own-actor (own $actor))
  (type $borrow-actor (borrow $actor))

  (alias core export $main "constructor" (core func $core-constructor))
  (alias core export $main "handle-message" (core func $core-handle-message))
  (alias core export $main "destructor" (core func $core-destructor))
  (func $constructor (param "scope" $scope) (param "config" string) (result $own-actor)
    (canon lift (core func $core-constructor) (memory $memory) (realloc $realloc) string-encoding=utf8))
  (func $handle-message (param "self" $borrow-actor) (param "message" $envelope)
    (canon lift (core func $core-handle-message) (memory $memory) (realloc $realloc) string-encoding=utf8))
  (func $destructor (param "self" $borrow-actor)
    (canon lift (core func $core-destructor)))

  ;; --- export: wasmind:actor/actor@0.1.0 -------------------------------------------------------
  (component $Shim
    (import "import-type-actor" (type $actor-in (sub resource)))
    (type $string string)
    (import "import-type-scope" (type $scope-in (eq $string)))
    (type $bytes-in (list u8))
    (type $envelope-def
      (record (field "id" string) (field "message-type" string) (field "from-actor-id" string)
              (field "from-scope" $scope-in) (field "payload" $bytes-in)))
    (import "import-type-message-envelope" (type $envelope-in (eq $envelope-def)))
    (import "import-constructor-actor"
      (func $constructor-in (param "scope" $scope-in) (param "config" string) (result (own $actor-in))))
    (import "import-method-actor-handle-message"
      (func $handle-message-in (param "self" (borrow $actor-in)) (param "message" $envelope-in)))
    (import "import-method-actor-destructor" (func $destructor-in (param "self" (borrow $actor-in))))

    ;; the same types again, exported under their WIT names, and the functions typed with them
    (type $scope-def string)
    (export $scope "scope" (type $scope-def))
    (type $bytes-out (list u8))
    (type $envelope-out
      (record (field "id" string) (field "message-type" string) (field "from-actor-id" string)
              (field "from-scope" $scope) (field "payload" $bytes-out)))
    (export $envelope "message-envelope" (type $envelope-out))
    (export $actor "actor" (type $actor-in))
    (type $own-actor (own $actor))
    (type $borrow-actor (borrow $actor))
    (type $constructor-type (func (param "scope" $scope) (param "config" string) (result $own-actor)))
    (type $handle-message-type (func (param "self" $borrow-actor) (param "message" $envelope)))
    (type $destructor-type (func (param "self" $borrow-actor)))
    (export "[constructor]actor" (func $constructor-in) (func (type $constructor-type)))
    (export "[method]actor.handle-message" (func $handle-message-in) (func (type $handle-message-type)))
    (export "[method]actor.destructor" (func $destructor-in) (func (type $destructor-type)))
  )
  (instance $actor-interface
    (instantiate $Shim
      (with "import-type-actor" (type $actor))
      (with "import-type-scope" (type $scope))
      (with "import-type-message-envelope" (type $envelope))
      (with "import-constructor-actor" (func $constructor))
      (with "import-method-actor-handle-message" (func $handle-message))
      (with "import-method-actor-destructor" (func $destructor))))
  (export "wasmind:actor/actor@0.1.0" (instance $actor-interface))
)
