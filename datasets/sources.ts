/**
 * Where each dataset's public files come from (`deno task data`), and where they go under the
 * data root, in GLIP's layout. ODinW comes from the location GLIP's `odinw/download.py` uses;
 * COCO, LVIS and Flickr30K from their official hosts. Sizes and sha256 are listed only where
 * they are known (COCO's two archives: sizes as images.cocodataset.org serves them, sha256 as
 * recorded by public projects that pin them); unknown ones are computed and printed after the
 * download so they can be pinned.
 *
 * @module
 */
import { UsageError } from "../core/errors.ts";
import { unknownNameMessage } from "../core/did_you_mean.ts";

/** One file to fetch. */
export interface RemoteFile {
  /** Where to fetch it. */
  url: string;
  /** Where the download is saved, relative to the data root. */
  path: string;
  /** Unpack the archive into this folder (relative to the data root), then delete it. */
  extractTo?: string;
  /** Expected sha256 (hex), checked after the download. */
  sha256?: string;
  /** Expected size in bytes. */
  size?: number;
  /** A group name used by `--tasks` (ODinW folders). */
  group?: string;
}

/** One dataset's downloads. */
export interface DataSource {
  /** Dataset name (`odinw`, `coco`, ...). */
  name: string;
  /** The files to fetch. */
  files: RemoteFile[];
  /** What cannot be downloaded automatically, and how to get it. */
  manual?: string[];
  /** Facts worth knowing about the source. */
  notes?: string[];
}

/**
 * The archives GLIP's `odinw/download.py` lists (33 names; `vector` is not one of the 35 tasks).
 * Each unpacks to `odinw/<name>/...`.
 */
export const ODINW_ARCHIVES: readonly string[] = [
  "AerialMaritimeDrone",
  "AmericanSignLanguageLetters",
  "Aquarium",
  "BCCD",
  "ChessPieces",
  "CottontailRabbits",
  "DroneControl",
  "EgoHands",
  "HardHatWorkers",
  "MaskWearing",
  "MountainDewCommercial",
  "NorthAmericaMushrooms",
  "OxfordPets",
  "PKLot",
  "Packages",
  "PascalVOC",
  "Raccoon",
  "ShellfishOpenImages",
  "ThermalCheetah",
  "UnoCards",
  "VehiclesOpenImages",
  "WildfireSmoke",
  "boggleBoards",
  "brackishUnderwater",
  "dice",
  "openPoetryVision",
  "pistols",
  "plantdoc",
  "pothole",
  "selfdrivingCar",
  "thermalDogsAndPeople",
  "vector",
  "websiteScreenshots",
];

const ODINW_HOST = "https://huggingface.co/GLIPModel/GLIP/resolve/main/odinw_35";
const GLIP_BLOB = "https://penzhanwu2bbs.blob.core.windows.net/data/GLIPv1_Open";
const ENTITIES = "https://raw.githubusercontent.com/BryanPlummer/flickr30k_entities/master";

/** The built-in download lists. */
export const DATA_SOURCES: Record<string, DataSource> = {
  odinw: {
    name: "odinw",
    files: ODINW_ARCHIVES.map((name) => ({
      url: `${ODINW_HOST}/${name}.zip`,
      path: `odinw/${name}.zip`,
      extractTo: "odinw",
      group: name,
    })),
    notes: [
      "GLIP's download.py points wget at huggingface.co/.../tree/main/odinw_35, which serves an HTML page; the files themselves are under /resolve/main/",
    ],
  },
  coco: {
    name: "coco",
    files: [
      {
        url: "http://images.cocodataset.org/zips/val2017.zip",
        path: "coco/val2017.zip",
        extractTo: "coco",
        size: 815585330,
        sha256: "4f7e2ccb2866ec5041993c9cf2a952bbed69647b115d0f74da7ce8f4bef82f05",
      },
      {
        url: "http://images.cocodataset.org/annotations/annotations_trainval2017.zip",
        path: "coco/annotations_trainval2017.zip",
        extractTo: "coco",
        size: 252907541,
        sha256: "113a836d90195ee1f884e704da6304dfaaecff1f023f49b6ca93c4aaae470268",
      },
    ],
  },
  lvis: {
    name: "lvis",
    files: [
      {
        url: `${GLIP_BLOB}/coco/annotations/lvis_v1_minival_inserted_image_name.json`,
        path: "coco/annotations/lvis_v1_minival_inserted_image_name.json",
      },
      {
        url: `${GLIP_BLOB}/coco/annotations/lvis_od_val.json`,
        path: "coco/annotations/lvis_od_val.json",
      },
    ],
    manual: ["LVIS uses the COCO 2017 images: run 'deno task data coco' as well"],
    notes: ["the annotation URLs are the ones in GLIP's DATA.md"],
  },
  flickr30k: {
    name: "flickr30k",
    files: [
      {
        url: "https://zenodo.org/record/4729015/files/mdetr_annotations.tar.gz?download=1",
        path: "mdetr_annotations.tar.gz",
        extractTo: ".",
      },
      {
        url: `${ENTITIES}/annotations.zip`,
        path: "flickr30k/flickr30k/annotations.zip",
        extractTo: "flickr30k/flickr30k",
      },
      { url: `${ENTITIES}/val.txt`, path: "flickr30k/flickr30k/val.txt" },
      { url: `${ENTITIES}/test.txt`, path: "flickr30k/flickr30k/test.txt" },
    ],
    manual: [
      "the Flickr30K images need a request form: http://shannon.cs.illinois.edu/DenotationGraph/ ; put them under DATA_ROOT/flickr30k/flickr30k_images/",
    ],
  },
};

/** One dataset's download list; unknown names are usage errors with a suggestion. */
export function dataSource(name: string): DataSource {
  const source = DATA_SOURCES[name];
  if (!source) {
    throw new UsageError(unknownNameMessage("dataset", name, Object.keys(DATA_SOURCES)));
  }
  return source;
}
