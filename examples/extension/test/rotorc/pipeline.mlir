// RUN: rotorc %s %load_alibi --insert-pass-after=opt:convert-alibi-to-linalg \
// RUN:   -emit=linalg | FileCheck %s --check-prefix=LINALG
// RUN: rotorc %s %load_alibi --insert-pass-after=opt:convert-alibi-to-linalg \
// RUN:   -o %t.rotor -q
// RUN: FileCheck %s --check-prefix=MANIFEST < %t.rotor/manifest.json
// RUN: test -f %t.rotor/module.so
// The op reaches -emit=opt untouched when the lowering is inserted later.
// RUN: rotorc %s %load_alibi --insert-pass-after=linalg:convert-alibi-to-linalg \
// RUN:   -emit=opt | FileCheck %s --check-prefix=OPT

// Without its lowering the plugin's op cannot be compiled: a diagnostic
// naming the op and the fix, a non-zero exit, no artifact.
// RUN: not rotorc %s --load-dialect-plugin=%alibi_plugin -o %t.none 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NOLOWERING
// RUN: not test -e %t.none
// Without the dialect plugin the input does not parse.
// RUN: not rotorc %s -o %t.nodialect 2>&1 | FileCheck %s --check-prefix=NODIALECT
// Without the pass plugin the pass is unknown.
// RUN: not rotorc %s --load-dialect-plugin=%alibi_plugin \
// RUN:   --insert-pass-after=opt:convert-alibi-to-linalg 2>&1 \
// RUN:   | FileCheck %s --check-prefix=NOPASS

// rotorc with the plugin: alibi.attention is lowered by the plugin's pass
// after the opt stage, rotor.attention by Rotor's own lowering, and the
// module compiles to one artifact.

// LINALG-LABEL: func.func @alibi_then_rotor
// LINALG-NOT: alibi.attention
// LINALG-NOT: rotor.attention
// LINALG: math.absi
// LINALG: linalg.generic
// LINALG: return

// MANIFEST: "name": "alibi_then_rotor"

// OPT: alibi.attention
// OPT: rotor.attention

// NOLOWERING: error: 'alibi.attention' (from a dialect plugin) is still present after the linalg stage; insert the plugin's lowering with --insert-pass-after=opt:PASS

// NODIALECT: error: Dialect `alibi' not found for custom op 'alibi.attention'

// NOPASS: rotorc: error: --insert-pass-after=opt:convert-alibi-to-linalg: {{.*}}'convert-alibi-to-linalg' does not refer to a registered pass or pass pipeline

func.func @alibi_then_rotor(%q: tensor<1x4x?x64xf32>, %k: tensor<1x2x?x64xf32>,
                            %v: tensor<1x2x?x64xf32>) -> tensor<1x4x?x64xf32> {
  %a = alibi.attention %q, %k, %v {mask = #rotor.mask<causal = true>}
      : tensor<1x4x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
  %o = rotor.attention %a, %k, %v {mask = #rotor.mask<causal = true>}
      : tensor<1x4x?x64xf32>, tensor<1x2x?x64xf32>, tensor<1x2x?x64xf32>
  return %o : tensor<1x4x?x64xf32>
}
