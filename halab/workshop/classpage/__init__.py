"""The live class page (`halab class serve`): every lab of this host in one browser tab."""
