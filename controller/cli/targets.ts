// The kinds `status <kind>/<name>` takes, spelled as kubectl spells them: each CRD's singular,
// plural and short names (`goldenimage/fedora`, `gimg/fedora`, `vmfleets/web`).
import { KINDS } from '../api/crds.ts';

const namesOf = (def: (typeof KINDS)[keyof typeof KINDS]): readonly string[] => [def.singular, def.plural, ...def.shortNames];

export const TARGET_KINDS = { image: namesOf(KINDS.GoldenImage), fleet: namesOf(KINDS.VMFleet) };
