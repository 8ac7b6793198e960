"""Writes compare/testdata/reference.json: fixed matrices and the CKA and RSA
values the reference implementations give for them. Run by hand (not CI):

    pip install numpy scipy rsatoolbox networkx scikit-learn
    python3 tools/compare_ref/make_fixture.py

CKA follows Kornblith et al.'s google-research representation_similarity
(gram_linear, gram_rbf, center_gram, cka, feature_space_linear_cka),
re-typed here from the paper's notebook. RDMs (crossnobis included) and their
comparisons come from rsatoolbox itself (calc_rdm, compare); the cosine RDM, which rsatoolbox
does not offer, from scipy's pdist.
"""
import json
import os

import numpy as np
import rsatoolbox
from rsatoolbox.rdm.transform import geotopological_transform
from scipy.spatial.distance import pdist


def gram_linear(x):
    return x.dot(x.T)


def gram_rbf(x, threshold=1.0):
    dot_products = x.dot(x.T)
    sq_norms = np.diag(dot_products)
    sq_distances = -2 * dot_products + sq_norms[:, None] + sq_norms[None, :]
    sq_median_distance = np.median(sq_distances)
    return np.exp(-sq_distances / (2 * threshold ** 2 * sq_median_distance))


def center_gram(gram, unbiased=False):
    gram = gram.copy()
    if unbiased:
        n = gram.shape[0]
        np.fill_diagonal(gram, 0)
        means = np.sum(gram, 0, dtype=np.float64) / (n - 2)
        means -= np.sum(means) / (2 * (n - 1))
        gram -= means[:, None]
        gram -= means[None, :]
        np.fill_diagonal(gram, 0)
    else:
        means = np.mean(gram, 0, dtype=np.float64)
        means -= np.mean(means) / 2
        gram -= means[:, None]
        gram -= means[None, :]
    return gram


def cka(gram_x, gram_y, debiased=False):
    gram_x = center_gram(gram_x, unbiased=debiased)
    gram_y = center_gram(gram_y, unbiased=debiased)
    scaled_hsic = gram_x.ravel().dot(gram_y.ravel())
    return scaled_hsic / (np.linalg.norm(gram_x) * np.linalg.norm(gram_y))


def feature_space_linear_cka(x, y, debiased=False):
    x = x - np.mean(x, 0, keepdims=True)
    y = y - np.mean(y, 0, keepdims=True)
    dot = np.linalg.norm(x.T.dot(y)) ** 2
    nx = np.linalg.norm(x.T.dot(x))
    ny = np.linalg.norm(y.T.dot(y))
    if debiased:
        n = x.shape[0]
        ssx = np.einsum('ij,ij->i', x, x)
        ssy = np.einsum('ij,ij->i', y, y)
        sqx, sqy = np.sum(ssx), np.sum(ssy)

        def h(xty, a, b, na, nb):
            return xty - n / (n - 2.) * a.dot(b) + na * nb / ((n - 1) * (n - 2))
        dot = h(dot, ssx, ssy, sqx, sqy)
        nx = np.sqrt(h(nx ** 2, ssx, ssx, sqx, sqx))
        ny = np.sqrt(h(ny ** 2, ssy, ssy, sqy, sqy))
    return dot / (nx * ny)


def rdm(x, method):
    if method == 'cosine':
        return pdist(x, 'cosine')
    ds = rsatoolbox.data.Dataset(x)
    return rsatoolbox.rdm.calc_rdm(ds, method=method).get_vectors()[0]


def compare(a, b, method):
    ra = rsatoolbox.rdm.RDMs(a[None, :])
    rb = rsatoolbox.rdm.RDMs(b[None, :])
    return float(rsatoolbox.rdm.compare(ra, rb, method=method)[0, 0])


def geodesic(vec):
    import networkx as nx
    from scipy.spatial.distance import squareform
    v = (vec - vec.min()) / (vec.max() - vec.min())
    m = squareform(v)
    g = nx.Graph()
    n = m.shape[0]
    g.add_nodes_from(range(n))
    for i in range(n):
        for j in range(i + 1, n):
            if m[i, j] != 1:
                g.add_edge(i, j, weight=m[i, j])
    return squareform(np.array(nx.floyd_warshall_numpy(g)), checks=False)


def noise_section():
    """Noise covariances (every estimator), a Mahalanobis RDM, noise ceilings
    (rsatoolbox), and a PLS fit (scikit-learn), on matrices of their own
    (a separate generator, so that the sections above keep their values)."""
    from rsatoolbox.data.noise import cov_from_residuals, prec_from_residuals
    from rsatoolbox.inference.noise_ceiling import boot_noise_ceiling
    from sklearn.cross_decomposition import PLSRegression
    rng = np.random.default_rng(22)
    mix = rng.standard_normal((6, 6))
    residuals = rng.standard_normal((30, 6)) @ mix
    dof = 24
    cov = {m.replace('_', '-'): cov_from_residuals(residuals, dof=dof, method=m).tolist()
           for m in ('full', 'diag', 'shrinkage_eye', 'shrinkage_diag')}
    prec = prec_from_residuals(residuals, dof=dof, method='shrinkage_diag')
    x = rng.standard_normal((10, 6))
    maha = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(x), method='mahalanobis', noise=prec).get_vectors()[0]
    true = rng.standard_normal((10, 6))
    reps = [true + 0.8 * rng.standard_normal((10, 6)) for _ in range(5)]
    rdms = rsatoolbox.rdm.RDMs(np.array([rdm(r, 'euclidean') for r in reps]))
    ceil = {}
    for ours, theirs in [('spearman', 'spearman'), ('rho-a', 'rho-a'), ('tau-a', 'tau-a'), ('pearson', 'corr'),
                         ('cosine', 'cosine'), ('cosine-whitened', 'cosine_cov'), ('pearson-whitened', 'corr_cov')]:
        lo, up = boot_noise_ceiling(rdms, method=theirs)
        ceil[ours] = [float(lo), float(up)]
    px = rng.standard_normal((60, 12))
    py = px @ rng.standard_normal((12, 4)) + 0.5 * rng.standard_normal((60, 4)) + 1.0
    ptest = rng.standard_normal((10, 12))
    pls = PLSRegression(n_components=5, scale=False).fit(px, py)
    return {'residuals': residuals.tolist(), 'dof': dof, 'cov': cov, 'precision': prec.tolist(), 'x': x.tolist(),
            'mahalanobis': maha.tolist(), 'reps': [r.tolist() for r in reps], 'ceiling': ceil,
            'pls': {'x': px.tolist(), 'y': py.tolist(), 'x_test': ptest.tolist(), 'components': 5,
                    'pred': pls.predict(ptest).tolist(), 'sklearn': __import__('sklearn').__version__}}


def main():
    rng = np.random.default_rng(21)
    cases = []
    n = 24
    x = rng.standard_normal((n, 7))
    y = np.tanh(x @ rng.standard_normal((7, 5))) + 0.5 * rng.standard_normal((n, 5)) + 3.0
    # Integer-valued patterns: their RDMs are full of ties, which is where
    # Spearman's average ranks and τ_a's tie rule matter.
    xt = np.round(x * 1.5)
    yt = np.round(y)
    for name, a, b in [('smooth', x, y), ('tied', xt, yt)]:
        case = {'name': name, 'x': a.tolist(), 'y': b.tolist(), 'cka': {}, 'rdm': {}, 'rsa': {}}
        for deb in (False, True):
            suffix = '-debiased' if deb else ''
            case['cka']['linear' + suffix] = float(cka(gram_linear(a), gram_linear(b), debiased=deb))
            case['cka']['linear-feature' + suffix] = float(feature_space_linear_cka(a, b, debiased=deb))
            case['cka']['rbf' + suffix] = float(cka(gram_rbf(a), gram_rbf(b), debiased=deb))
        for dist in ('euclidean', 'correlation', 'cosine'):
            ra, rb = rdm(a, dist), rdm(b, dist)
            case['rdm'][dist] = {'x': ra.tolist(), 'y': rb.tolist()}
            case['rsa'][dist] = {
                'spearman': compare(ra, rb, 'spearman'),
                'tau-a': compare(ra, rb, 'tau-a'),
                'pearson': compare(ra, rb, 'corr'),
                'cosine': compare(ra, rb, 'cosine'),
                'rho-a': compare(ra, rb, 'rho-a'),
                'tau-b': compare(ra, rb, 'kendall'),
                'cosine-whitened': compare(ra, rb, 'cosine_cov'),
                'pearson-whitened': compare(ra, rb, 'corr_cov'),
            }
        cases.append(case)
    # Crossnobis: 3 runs of 8 conditions × 5 channels (a shared pattern
    # plus run noise), with the identity and with an SPD precision.
    true = rng.standard_normal((8, 5))
    runs = [true + 0.7 * rng.standard_normal((8, 5)) for _ in range(3)]
    a = rng.standard_normal((5, 5))
    prec = a @ a.T + 5 * np.eye(5)
    conds = np.tile(np.arange(8), 3)
    ds = rsatoolbox.data.Dataset(np.concatenate(runs), obs_descriptors={'conds': conds, 'runs': np.repeat(np.arange(3), 8)})
    cross = {'runs': [r.tolist() for r in runs], 'precision': prec.tolist()}
    cross['identity'] = rsatoolbox.rdm.calc_rdm(ds, method='crossnobis', descriptor='conds', cv_descriptor='runs').get_vectors()[0].tolist()
    cross['with_precision'] = rsatoolbox.rdm.calc_rdm(ds, method='crossnobis', descriptor='conds', cv_descriptor='runs', noise=prec).get_vectors()[0].tolist()
    # Topological RSA on the smooth case's correlation RDM of x. The
    # geo-topological transform is rsatoolbox's; the geodesic is computed
    # with networkx as rsatoolbox does, except that edges of weight 0 are
    # kept (networkx.from_numpy_array drops them; see compare/topology.go).
    base = rsatoolbox.rdm.calc_rdm(rsatoolbox.data.Dataset(x), method='correlation')
    base_vec = base.get_vectors()[0].copy()  # the transform rewrites base's vectors in place
    gt = geotopological_transform(base, 0.1, 0.6)
    topo = {'rdm': base_vec.tolist(), 'low': 0.1, 'up': 0.6,
            'geotopological': gt.get_vectors()[0].tolist(),
            'geodesic_of_geotopological': geodesic(gt.get_vectors()[0]).tolist(),
            'geodesic': geodesic(base_vec).tolist()}
    noise = noise_section()
    out = os.path.join(os.path.dirname(__file__), '..', '..', 'compare', 'testdata', 'reference.json')
    with open(out, 'w') as f:
        json.dump({'generator': 'tools/compare_ref/make_fixture.py', 'numpy': np.__version__,
                   'rsatoolbox': '0.3.2', 'cases': cases, 'crossnobis': cross, 'topology': topo, 'noise': noise}, f, indent=1)
        f.write('\n')


if __name__ == '__main__':
    main()
